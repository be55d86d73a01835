"""Write minclip/assets/fashion_mnist_sample.npz: the first 100 test images of each Fashion-MNIST class, for tests
and CI.

Usage: python scripts/make_fashion_mnist_sample.py [--root FOLDER] [--per-class 100] [--out PATH]

Reads the full test split with minclip.data.load_fashion_mnist (never downloads unless --download is given),
keeps, for each label 0..9, the first `per_class` images in test-set order, and stores them in test-set order
(not grouped by class) as a compressed npz with two arrays: images uint8 [N, 28, 28] and labels int64 [N].
Running it twice writes the same arrays. Provenance and licence: minclip/assets/README.md.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from minclip.data import load_fashion_mnist
from minclip.resources import asset

REPO = Path(__file__).resolve().parents[1]


def select(labels: np.ndarray, per_class: int, num_classes: int = 10) -> np.ndarray:
    """Indices of the first `per_class` items of each class, in their original order:
    labels [1, 0, 1, 1, 0], per_class 1 -> [0, 1]; per_class 2 -> [0, 1, 2, 4]."""
    picked = [np.flatnonzero(labels == c)[:per_class] for c in range(num_classes)]
    short = [c for c, idx in enumerate(picked) if len(idx) < per_class]
    if short:
        raise ValueError(f"classes {short} have fewer than {per_class} test images")
    return np.sort(np.concatenate(picked))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=None, help="folder holding the four Fashion-MNIST .gz files")
    parser.add_argument("--per-class", type=int, default=100)
    parser.add_argument("--out", type=Path, default=asset("fashion_mnist_sample.npz"))
    parser.add_argument("--download", action="store_true", help="let torchvision download the data if missing")
    args = parser.parse_args(argv)
    images, labels = load_fashion_mnist("test", args.root, download=args.download)
    images, labels = images.numpy(), labels.numpy()
    keep = select(labels, args.per_class)
    np.savez_compressed(args.out, images=images[keep].astype(np.uint8), labels=labels[keep].astype(np.int64))
    print(f"wrote {args.out}: {len(keep)} images ({args.per_class} per class), {args.out.stat().st_size:,} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
