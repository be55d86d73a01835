"""The README's Python example runs as written, with the shipped model and a photo made for it."""

import re
from pathlib import Path

import numpy as np
import torch
from PIL import Image

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_example_runs(tmp_path, monkeypatch):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.DOTALL)
    assert len(blocks) == 1
    pixels = np.random.default_rng(0).integers(0, 256, (300, 400, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "photo.jpg")
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(blocks[0], "README.md", "exec"), namespace)
    assert namespace["probs"].shape == (1, 2) and namespace["text"].shape == (2, 32)
    torch.testing.assert_close(namespace["probs"].sum(), torch.tensor(1.0))


def test_readme_example_runs_with_vit_b_32(tmp_path, monkeypatch, archive, serve):
    """The same example with "ViT-B/32", as with openai/CLIP; a local stand-in serves a small archive in OpenAI's
    release format at that name's address (the real weights need internet), into a temporary cache."""
    from minclip import pretrained

    serve(archive[1])
    monkeypatch.setattr(pretrained, "default_root", lambda: tmp_path / "clip")
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.DOTALL)
    code = blocks[0].replace('minclip.load("fashion-mnist-cpu"', 'minclip.load("ViT-B/32"')
    assert code != blocks[0]
    Image.fromarray(np.zeros((300, 400, 3), dtype=np.uint8)).save(tmp_path / "photo.jpg")
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)
    assert namespace["probs"].shape == (1, 2) and namespace["model"].config.image_resolution == 64
    assert (tmp_path / "clip" / "ViT-tiny.pt").is_file()
