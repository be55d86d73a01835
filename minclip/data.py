"""Datasets for minclip: where Fashion-MNIST lives, how to fetch it, and how to read it.

Fashion-MNIST (Xiao, Rasul and Vollgraf, 2017, https://github.com/zalandoresearch/fashion-mnist) is
70,000 greyscale 28x28 images of clothing in 10 classes (60,000 train, 10,000 test), stored in the idx format
of MNIST (http://yann.lecun.com/exdb/mnist/). It is small enough to train a small CLIP on a CPU, and its class
names ("Sneaker", "Ankle boot", ...) make natural captions.

The four ``.gz`` files are looked up, in order, in: a folder passed by the caller,
``$MINCLIP_DATA/fashion-mnist``, the repository's ``data/fashion-mnist``, and
``/usr/share/datasets/fashion-mnist`` (Debian and Ubuntu package ``dataset-fashion-mnist``). If none holds
them, :func:`ensure_fashion_mnist` asks torchvision to download them. Nothing is read or downloaded at import
time.

Command line: ``python -m minclip.data`` makes the data available and prints where it is.
"""

from __future__ import annotations

import argparse
import gzip
import os
import shutil
import sys
import zlib
from pathlib import Path

import numpy as np
import torch

FASHION_MNIST_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)

FASHION_MNIST_FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)

# split -> (images file, labels file, number of examples)
_SPLITS = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", 60_000),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz", 10_000),
}

REPO_DATA_DIR = Path(__file__).resolve().parents[1] / "data"
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")

# idx magic numbers: two zero bytes, a type code (0x08 = unsigned byte), and the number of dimensions
IDX_IMAGES_MAGIC = 0x00000803  # uint8, 3 dimensions (N, rows, cols)
IDX_LABELS_MAGIC = 0x00000801  # uint8, 1 dimension (N,)

# -----------------------------------------------------------------------------
# finding and fetching


def candidate_dirs(root: str | os.PathLike | None = None) -> list[Path]:
    """The folders searched for the four Fashion-MNIST files, in the order they are searched."""
    dirs = []
    if root is not None:
        dirs.append(Path(root))
    if os.environ.get("MINCLIP_DATA"):
        dirs.append(Path(os.environ["MINCLIP_DATA"]) / "fashion-mnist")
    dirs.append(REPO_DATA_DIR / "fashion-mnist")
    dirs.append(DEBIAN_DIR)
    return dirs


def find_fashion_mnist(root: str | os.PathLike | None = None) -> Path | None:
    """Return the first folder that holds all four Fashion-MNIST ``.gz`` files, or None.

    Searched in order: ``root`` (if given), ``$MINCLIP_DATA/fashion-mnist``, the repository's
    ``data/fashion-mnist``, ``/usr/share/datasets/fashion-mnist``.
    """
    for folder in candidate_dirs(root):
        if all((folder / name).is_file() for name in FASHION_MNIST_FILES):
            return folder
    return None


def _download_target(root: str | os.PathLike | None) -> Path:
    """Where a download goes: ``root``, else ``$MINCLIP_DATA/fashion-mnist``, else ``data/fashion-mnist``."""
    if root is not None:
        return Path(root)
    if os.environ.get("MINCLIP_DATA"):
        return Path(os.environ["MINCLIP_DATA"]) / "fashion-mnist"
    return REPO_DATA_DIR / "fashion-mnist"


def _download_with_torchvision(target: Path) -> None:
    """Download the four files with torchvision and move them into ``target``."""
    from torchvision.datasets import FashionMNIST  # imported here: only needed for a download

    scratch = target.parent / (target.name + ".download")
    try:
        for train in (True, False):
            FashionMNIST(root=str(scratch), train=train, download=True)
        raw = scratch / "FashionMNIST" / "raw"
        target.mkdir(parents=True, exist_ok=True)
        for name in FASHION_MNIST_FILES:
            shutil.move(str(raw / name), str(target / name))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _missing_message(root: str | os.PathLike | None, reason: str = "") -> str:
    searched = "\n".join(f"  {d}" for d in candidate_dirs(root))
    reason = f"{reason}\n" if reason else ""
    return (
        f"Fashion-MNIST not found. Looked for {', '.join(FASHION_MNIST_FILES)} in:\n{searched}\n{reason}"
        "To fix, do one of:\n"
        "  - on Debian/Ubuntu: sudo apt-get install dataset-fashion-mnist\n"
        "  - run `make data` (or `python -m minclip.data`) with internet access, so torchvision can\n"
        "    download the files into data/fashion-mnist\n"
        "  - set MINCLIP_DATA to a folder whose fashion-mnist/ subfolder holds the four .gz files"
    )


def ensure_fashion_mnist(root: str | os.PathLike | None = None, download: bool = True) -> Path:
    """Return the folder holding the four Fashion-MNIST files, downloading them with torchvision if needed.

    Raises FileNotFoundError, with instructions, when the files are nowhere and cannot be downloaded.
    """
    found = find_fashion_mnist(root)
    if found is not None:
        return found
    if not download:
        raise FileNotFoundError(_missing_message(root, "Download disabled."))
    target = _download_target(root)
    try:
        _download_with_torchvision(target)
    except Exception as err:  # no network, no torchvision, a mirror down: all end in the same advice
        raise FileNotFoundError(
            _missing_message(root, f"Download with torchvision failed: {type(err).__name__}: {err}")
        ) from err
    found = find_fashion_mnist(target)
    if found is None:
        raise FileNotFoundError(_missing_message(root, f"The download left no complete set in {target}."))
    return found


# -----------------------------------------------------------------------------
# reading the idx format


def read_idx(path: str | os.PathLike, magic: int) -> np.ndarray:
    """Read a gzipped idx file of unsigned bytes and return it as a uint8 array.

    Layout: a big-endian uint32 magic number (0x00000803 for images, 0x00000801 for labels; the last byte is
    the number of dimensions), one big-endian uint32 per dimension, then the bytes in C order. E.g. labels
    [9, 0] are stored as 00 00 08 01 | 00 00 00 02 | 09 00.
    """
    path = Path(path)
    try:
        with gzip.open(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError, zlib.error) as err:
        raise ValueError(f"{path}: not a readable gzip file ({err}); delete it and fetch it again") from err
    if len(raw) < 4:
        raise ValueError(f"{path}: truncated idx file ({len(raw)} bytes, no header)")
    found_magic = int.from_bytes(raw[:4], "big")
    if found_magic != magic:
        raise ValueError(f"{path}: wrong idx magic number 0x{found_magic:08x}, expected 0x{magic:08x}")
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"{path}: truncated idx header ({len(raw)} bytes, expected at least {header})")
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = header + int(np.prod(shape))
    if len(raw) != expected:
        raise ValueError(
            f"{path}: idx size mismatch, header says shape {shape} ({expected} bytes) but the file has "
            f"{len(raw)} bytes (truncated or corrupt)"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def load_fashion_mnist(
    split: str = "train", root: str | os.PathLike | None = None, download: bool = True
) -> tuple[torch.Tensor, torch.Tensor]:
    """Load one split of Fashion-MNIST as (images uint8 [N, 28, 28], labels int64 [N]).

    ``split`` is "train" (60,000 examples) or "test" (10,000). The folder is found (or fetched) by
    :func:`ensure_fashion_mnist`; a ``root`` with files of another size (e.g. a small test set) is accepted as
    long as images and labels agree.
    """
    if split not in _SPLITS:
        raise ValueError(f"split must be one of {sorted(_SPLITS)}, got {split!r}")
    folder = ensure_fashion_mnist(root, download=download)
    images_name, labels_name, _ = _SPLITS[split]
    images = read_idx(folder / images_name, IDX_IMAGES_MAGIC)
    labels = read_idx(folder / labels_name, IDX_LABELS_MAGIC)
    if images.shape[1:] != (28, 28):
        raise ValueError(f"{folder / images_name}: images are {images.shape[1:]}, expected (28, 28)")
    if len(images) != len(labels):
        raise ValueError(
            f"{folder / images_name} holds {len(images)} images but {folder / labels_name} holds "
            f"{len(labels)} labels"
        )
    if labels.size and labels.max() >= len(FASHION_MNIST_CLASSES):
        raise ValueError(f"{folder / labels_name}: label {labels.max()} out of range 0..9")
    return torch.from_numpy(images.copy()), torch.from_numpy(labels.astype(np.int64))


# -----------------------------------------------------------------------------
# command line


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m minclip.data", description=__doc__.splitlines()[0])
    parser.add_argument("dataset", nargs="?", default="fashion-mnist", choices=["fashion-mnist"])
    parser.add_argument("--root", default=None, help="folder holding (or to receive) the four .gz files")
    parser.add_argument("--no-download", action="store_true", help="only look for the files, never download")
    args = parser.parse_args(argv)
    try:
        folder = ensure_fashion_mnist(args.root, download=not args.no_download)
        counts = {split: len(load_fashion_mnist(split, folder, download=False)[1]) for split in _SPLITS}
    except (FileNotFoundError, ValueError) as err:
        print(err, file=sys.stderr)
        return 1
    print(f"Fashion-MNIST is in {folder}")
    print(
        ", ".join(f"{split}: {n:,} images" for split, n in counts.items())
        + f", {len(FASHION_MNIST_CLASSES)} classes"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
