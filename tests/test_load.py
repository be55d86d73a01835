"""Loading checkpoints: every supported format gives back the same model; bad files get clear errors and
nothing in them runs."""

import os
import pickle
import warnings
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image

import minclip
from minclip.load import OPENAI_MEAN, OPENAI_STD, preprocess_for, read_checkpoint
from minclip.model import CLIP, CLIPConfig
from minclip.pretrained import OPENAI_MODELS
from tests.corpus import captions

TINY = CLIPConfig(embed_dim=64, image_resolution=64, vision_layers=2, vision_width=64, vision_patch_size=16,
                  context_length=16, transformer_width=64, transformer_heads=1,
                  transformer_layers=2)


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    return CLIP(TINY).eval()


def same_outputs(a, b):
    torch.manual_seed(1)
    images, tokens = torch.randn(2, 3, 64, 64), a.tokenize(["a dog", "an ankle boot"])
    with torch.no_grad():
        return torch.equal(a(images, tokens)[0], b(images, tokens)[0])


def test_openai_torchscript_archive(tiny, tmp_path):
    """openai/CLIP's releases are TorchScript archives whose state dict also holds input_resolution,
    context_length and vocab_size; minclip reads their tensors without compiling or running their code."""
    scripted = CLIP(TINY).eval()
    scripted.load_state_dict(tiny.state_dict())
    for name, value in [("input_resolution", 64), ("context_length", 16), ("vocab_size", 49408)]:
        scripted.register_buffer(name, torch.tensor(value))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(scripted, (torch.randn(1, 3, 64, 64), tiny.tokenize(["a dog"])), check_trace=False)
        torch.jit.save(traced, tmp_path / "ViT-tiny.pt")
    state, config, tokenizer = read_checkpoint(tmp_path / "ViT-tiny.pt")
    assert set(state) == set(tiny.state_dict()) | {"input_resolution", "context_length", "vocab_size"}
    model, _ = minclip.load(tmp_path / "ViT-tiny.pt", device="cpu")
    assert model.config == TINY and same_outputs(model, tiny)


def test_minclip_safetensors_round_trip(tmp_path):
    tokenizer = minclip.BPETokenizer.train(captions(), vocab_size=2048)
    torch.manual_seed(0)
    model = CLIP(CLIPConfig.cpu(), tokenizer=tokenizer).eval()
    minclip.save_checkpoint(model, tmp_path / "cpu.safetensors", metadata={"dataset": "none"})
    loaded, preprocess = minclip.load(tmp_path / "cpu.safetensors", device="cpu")
    assert loaded.config == model.config and loaded.tokenizer.merges == tokenizer.merges
    texts = ["a red sneaker", "a black ankle boot"]
    assert torch.equal(loaded.tokenize(texts), model.tokenize(texts))
    images = torch.randn(2, 3, 128, 128)
    with torch.no_grad():
        assert torch.equal(loaded(images, loaded.tokenize(texts))[0], model(images, model.tokenize(texts))[0])


def test_preprocess_equals_open_clip():
    open_clip = pytest.importorskip("open_clip")
    reference = open_clip.image_transform(224, is_train=False)
    rng = np.random.default_rng(0)
    for size, mode in [((300, 200), "RGB"), ((180, 400), "L"), ((224, 224), "RGBA")]:
        pixels = rng.integers(0, 256, (size[1], size[0], len(mode) if mode != "L" else 1), dtype=np.uint8)
        if mode == "RGBA":
            pixels[..., 3] = 255  # opaque: with transparency ours composites on white (tests/test_transform.py)
        image = Image.fromarray(pixels.squeeze(), mode=mode)
        ours = preprocess_for(224)(image)
        assert ours.shape == (3, 224, 224)
        torch.testing.assert_close(ours, reference(image))
    assert OPENAI_MEAN == (0.48145466, 0.4578275, 0.40821073) and OPENAI_STD == (0.26862954, 0.26130258, 0.27577711)


# -- bad files ----------------------------------------------------------------------------------------------


class Payload:
    """A pickle that would create a directory when unpickled, if anything ever executed it."""

    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (os.mkdir, (self.target,))


def test_pickle_carrying_code_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    torch.save({"visual.proj": Payload(str(marker))}, tmp_path / "evil.pt")
    with pytest.raises(ValueError, match="never executes code"):
        minclip.load(tmp_path / "evil.pt")
    assert not marker.exists()


def test_torchscript_archive_carrying_code_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    with zipfile.ZipFile(tmp_path / "evil.pt", "w") as z:
        z.writestr("evil/code/__torch__/model.py", "")
        z.writestr("evil/data.pkl", pickle.dumps(Payload(str(marker)), protocol=2))
    with pytest.raises(ValueError, match="refus.*(posix|os).mkdir.*never executes code"):
        minclip.load(tmp_path / "evil.pt")
    assert not marker.exists()


def test_bad_files_get_clear_errors(tmp_path, tiny):
    with pytest.raises(FileNotFoundError, match="neither a model name"):
        minclip.load("no-such-model")
    (tmp_path / "random.pt").write_bytes(os.urandom(1000))
    with pytest.raises(ValueError, match="not a readable PyTorch checkpoint"):
        minclip.load(tmp_path / "random.pt")
    (tmp_path / "empty.pt").write_bytes(b"")
    with pytest.raises(ValueError, match="not a readable PyTorch checkpoint"):
        minclip.load(tmp_path / "empty.pt")
    torch.save([1, 2, 3], tmp_path / "list.pt")
    with pytest.raises(ValueError, match="expected a state dict"):
        minclip.load(tmp_path / "list.pt")
    torch.save({"fc.weight": torch.zeros(2, 2)}, tmp_path / "resnet.pt")
    with pytest.raises(ValueError, match="not a CLIP state dict"):
        minclip.load(tmp_path / "resnet.pt")
    sd = dict(tiny.state_dict())
    sd["ln_final.weight"] = torch.zeros(65)
    torch.save(sd, tmp_path / "mismatch.pt")
    with pytest.raises(ValueError, match="mismatch.pt: .*ln_final"):
        minclip.load(tmp_path / "mismatch.pt")


def test_damaged_files(tmp_path, tiny):
    minclip.save_checkpoint(tiny, tmp_path / "ok.safetensors")
    data = (tmp_path / "ok.safetensors").read_bytes()
    (tmp_path / "cut.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="cut.safetensors: not a readable safetensors file"):
        minclip.load(tmp_path / "cut.safetensors")
    from safetensors.torch import save_file

    save_file(dict(tiny.state_dict()), str(tmp_path / "bad-meta.safetensors"),
              metadata={"format": "minclip-checkpoint-1", "config": '{"embed_dim": 1}'})
    with pytest.raises(ValueError, match="damaged minclip metadata"):
        minclip.load(tmp_path / "bad-meta.safetensors")
    with zipfile.ZipFile(tmp_path / "broken-ts.pt", "w") as z:
        z.writestr("m/code/__torch__/model.py", "")
        z.writestr("m/data.pkl", b"\x80\x02garbage")
    with pytest.raises(ValueError, match="not a readable TorchScript archive"):
        minclip.load(tmp_path / "broken-ts.pt")


def test_available_models_are_loadable():
    """Every shipped name loads here; OpenAI's released names follow them (downloads: tests/test_pretrained.py)."""
    names = minclip.available_models()
    assert names[-len(OPENAI_MODELS):] == list(OPENAI_MODELS) and "ViT-B/32" in names
    for name in names[:-len(OPENAI_MODELS)]:
        model, preprocess = minclip.load(name, device="cpu")
        assert isinstance(model, CLIP)
