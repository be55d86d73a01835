"""The files minclip ships inside the package, under minclip/assets: the shipped models and their records, the
committed Fashion-MNIST sample, the book's captions and OpenAI's BPE merges (provenance: minclip/assets/README.md).

Found through ``importlib.resources``, so they are there wherever minclip is installed (a checkout, an editable
install or a wheel), not only beside a repository's data/ folder.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def asset(name: str) -> Path:
    """The path of a shipped file, `name` relative to minclip/assets: asset("captions.txt"),
    asset("models/fashion-mnist-cpu.safetensors"). minclip installs as plain files (never a zip), so it is a Path."""
    return Path(str(resources.files("minclip").joinpath("assets", *name.split("/"))))
