"""Measure Fashion Scenes (minclip.scenes): distinct captions, vocabulary, pairs per second, and a gallery.

    .venv/bin/python scripts/measure_scenes.py [--pairs 100000] [--gallery scenes.png]

Draws the train split's first `--pairs` captions (epoch 0) and counts the distinct ones and the distinct words;
times whole pairs (scene, pixels, caption) on one thread; saves a gallery of 12 scenes with their captions. It
reads the training images where Fashion-MNIST is installed (`make data`), else the committed 1,000-image sample
(the output says which). Writes the figures to data/fashion-scenes-stats.json with the machine and the commit.
"""

import argparse
import json
import platform
import sys
import textwrap
import time
from collections import Counter
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from minclip.data import find_fashion_mnist  # noqa: E402
from minclip.scenes import FashionScenes, render  # noqa: E402
from scripts.records import git_commit, machine_name, write_record  # noqa: E402


def gallery(ds: FashionScenes, indices, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(3, 4, figsize=(12, 10.5))
    for ax, i in zip(axes.flat, indices):
        ax.imshow(render(ds.scene(i), ds.pool, ds.config.resolution).permute(1, 2, 0).numpy())
        ax.set_title("\n".join(textwrap.wrap(ds.caption(i), 32)), fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle("Fashion Scenes: scenes of the train split with their captions")
    fig.tight_layout()
    fig.savefig(path, dpi=80)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=100_000)
    parser.add_argument("--timed", type=int, default=2_000, help="pairs to time (pixels and caption)")
    parser.add_argument("--gallery", default=None, help="save the gallery to this PNG file")
    parser.add_argument("--record", default=str(REPO / "data" / "fashion-scenes-stats.json"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    full = find_fashion_mnist() is not None
    ds = FashionScenes("train", n=args.pairs) if full else FashionScenes.sample("train", n=args.pairs)
    started = time.perf_counter()
    captions = [ds.caption(i) for i in range(args.pairs)]
    caption_seconds = time.perf_counter() - started
    vocabulary = Counter(w for c in captions for w in c.lower().replace(",", " ").replace(".", " ").split())
    started = time.perf_counter()
    for i in range(args.timed):
        ds[i]
    pairs_per_second = args.timed / (time.perf_counter() - started)
    record = {
        "command": "python scripts/measure_scenes.py", "git_commit": git_commit(), "date": time.strftime("%Y-%m-%d"),
        "item_pool": "Fashion-MNIST train split" if full else "committed 1,000-image test sample",
        "pairs": args.pairs, "distinct_captions": len(set(captions)),
        "distinct_fraction": round(len(set(captions)) / args.pairs, 4), "vocabulary": len(vocabulary),
        "mean_words": round(sum(len(c.split()) for c in captions) / args.pairs, 2),
        "captions_per_second": round(args.pairs / caption_seconds),
        "pairs_per_second_one_thread": round(pairs_per_second),
        "machine": {"cpu": machine_name("cpu"), "threads": 1, "torch": torch.__version__,
                    "python": platform.python_version()},
    }
    write_record(args.record, record)
    print(json.dumps(record, indent=1))
    if args.gallery:
        gallery(ds, range(12), Path(args.gallery))
        print(f"gallery: {args.gallery}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
