"""The supervised baseline: the same image encoder as CLIP, trained on labels with the same schedule."""

import json
from pathlib import Path

import pytest
import torch

from minclip.baseline import SupervisedBaseline, SupervisedStep, accuracy, train_supervised
from minclip.datasets import SyntheticShapes, collate
from minclip.model import CLIP, CLIPConfig
from minclip.train import TrainConfig, load_training_state, train
from tests.script_modules import load_script

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


# ---- scripts/train_baseline.py: the command that trains the baseline and writes its record

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def script():
    """scripts/train_baseline.py as a module (it is run as `python scripts/train_baseline.py`, not imported)."""
    return load_script("train_baseline")


def test_the_script_measures_the_baseline(script):
    data = SyntheticShapes(64, resolution=32, seed=0)
    config = TrainConfig(epochs=1, batch_size=16, warmup_steps=1, max_steps=2, device="cpu")
    figures = script.measure(config, TINY, data, data, progress=False)
    assert list(figures) == ["train_config", "history", "train_seconds", "test"]
    assert figures["history"][-1]["step"] == 2 and figures["train_config"]["max_steps"] == 2
    assert figures["test"]["n"] == 64 and 0 <= figures["test"]["top1"] <= figures["test"]["top5"] <= 100


def test_the_script_writes_the_record(script, tmp_path, monkeypatch):
    """The record keeps the keys of the committed one (which the book reads), and names the command that made it."""
    monkeypatch.setattr(script, "fashion_mnist", lambda resolution, seed: ("train set", "test set"))
    figures = {"train_config": {}, "history": [], "train_seconds": 1.0, "test": {"top1": 50.0, "top5": 90.0, "n": 2}}
    monkeypatch.setattr(script, "measure", lambda config, model_config, train_set, test_set: figures)
    threads = []
    monkeypatch.setattr(torch, "set_num_threads", threads.append)  # not this test process's threads
    out = tmp_path / "models" / "baseline.json"
    assert script.main(["--out", str(out), "--device", "cpu", "--threads", "1"]) == 0
    record = json.loads(out.read_text())
    committed = json.loads((REPO / "data" / "models" / "supervised-baseline.json").read_text())
    assert list(record) == list(committed)
    assert record["command"] == f"python scripts/train_baseline.py --out {out} --device cpu --threads 1"
    assert record["test"] == figures["test"] and record["device"] == "cpu" and record["threads"] == 1 == threads[-1]
    assert out.read_text().endswith("}\n")
