"""The supervised baseline: the same image encoder as CLIP, trained on labels with the same schedule."""

import pytest
import torch

from minclip.baseline import SupervisedBaseline, SupervisedStep, accuracy, train_supervised
from minclip.datasets import SyntheticShapes, collate
from minclip.model import CLIP, CLIPConfig
from minclip.train import TrainConfig, load_training_state, train

TINY = CLIPConfig(embed_dim=32, image_resolution=32, vision_layers=(1, 1, 1, 1), vision_width=8, vision_patch_size=None,
                  context_length=16, transformer_width=32, transformer_heads=1,
                  transformer_layers=1)


def test_the_encoder_is_clips():
    torch.manual_seed(0)
    clip_visual = CLIP(TINY).visual.state_dict()
    torch.manual_seed(0)
    baseline = SupervisedBaseline(TINY, num_classes=12)
    assert baseline.visual.state_dict().keys() == clip_visual.keys()
    for name, value in baseline.visual.state_dict().items():
        assert torch.equal(value, clip_visual[name]), name
    assert baseline(torch.randn(2, 3, 32, 32)).shape == (2, 12)


@pytest.mark.training
def test_it_learns_the_labels():
    data = SyntheticShapes(96, resolution=32, seed=0)
    loader = torch.utils.data.DataLoader(data, batch_size=32, collate_fn=collate)
    torch.manual_seed(0)
    model = SupervisedBaseline(TINY, num_classes=len(data.classnames))
    before = accuracy(model, loader, progress=False)
    history = train_supervised(model, data, TrainConfig(epochs=8, batch_size=16, lr=3e-3, warmup_steps=5,
                                                        device="cpu"), progress=False)
    after = accuracy(model, loader, progress=False)
    assert [h["epoch"] for h in history] == list(range(1, 9)) and history[-1]["step"] == 48
    assert after["n"] == 96 and after["top1"] > before["top1"] + 0.2 and after["top1"] <= after["top5"] <= 1


def test_too_small_a_dataset():
    with pytest.raises(ValueError, match="fewer than one batch"):
        train_supervised(SupervisedBaseline(TINY, 12), SyntheticShapes(4, resolution=32), TrainConfig(device="cpu"),
                         progress=False)


def test_the_baseline_runs_on_clips_loop(tmp_path):
    """train_supervised was a second copy of train() that had drifted (no checkpoints, no resume, its own max_steps
    and divergence handling); now it is train() with another objective, and gets all of them."""
    data = SyntheticShapes(64, resolution=32, seed=0)
    config = TrainConfig(epochs=2, batch_size=16, warmup_steps=1, max_steps=3, device="cpu")
    torch.manual_seed(0)
    history = train_supervised(SupervisedBaseline(TINY, len(data.classnames)), data, config, progress=False,
                               out_dir=tmp_path)
    assert history[-1]["step"] == 3 and load_training_state(tmp_path / "last.pt")["step"] == 3
    model = SupervisedBaseline(TINY, len(data.classnames))
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        train(model, data, config, tmp_path / "empty", resume=True, progress=False, objective=SupervisedStep(model))
