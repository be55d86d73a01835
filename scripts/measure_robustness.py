"""Robustness to distribution shift: zero-shot CLIP against a supervised model and a linear probe, shift by shift.

Radford et al. 2021, section 3.3 (figures 13 and 14): models fitted to one data set lose much of their accuracy on
shifted test sets; zero-shot CLIP loses less, and fitting CLIP's features to the data set (a logistic-regression
probe) gains in-distribution accuracy but gives much of the robustness back. Here on Fashion-MNIST's test images
under the shifts of minclip.shifts, for four classifiers:

- scenes CLIP, zero-shot: the shipped `fashion-scenes-cpu`, the data set's own class names in the held-out frames;
- label CLIP, zero-shot: the shipped `fashion-mnist-cpu`, with the names and templates of chapter 7;
- supervised: the scenes model's image encoder (`CLIPConfig.cpu(image_resolution=64)`, initialised as in CLIP)
  trained on Fashion-MNIST's labels with the shipped schedule (`TrainConfig.cpu()`, minclip.baseline);
- probe: a logistic regression on the scenes model's frozen features of 10,000 unshifted training images.

Effective robustness, as the paper uses it (after Taori et al. 2020), is the accuracy under shift above what a
model's in-distribution accuracy predicts from a reference trend. With one reference model, the trend here is the
supervised model's: a model that keeps the same fraction of its original accuracy as the supervised model has an
effective robustness of 0.

    .venv/bin/python scripts/measure_robustness.py      # writes data/robustness.json (needs `make data`)
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from minclip import load  # noqa: E402
from minclip.baseline import SupervisedBaseline, train_supervised  # noqa: E402
from minclip.captions import CLASSNAMES, EVAL_TEMPLATES  # noqa: E402
from minclip.data import FASHION_MNIST_CLASSES, load_fashion_mnist  # noqa: E402
from minclip.datasets import FashionMNISTPairs, normalize  # noqa: E402
from minclip.model import CLIPConfig  # noqa: E402
from minclip.probe import train_linear_probe  # noqa: E402
from minclip.scene_text import EVAL_FRAMES, article  # noqa: E402
from minclip.shifts import SHIFTS, shifted  # noqa: E402
from minclip.train import TrainConfig  # noqa: E402
from minclip.zeroshot import encode_images, zero_shot_classifier  # noqa: E402
from scripts.records import finish_record  # noqa: E402


def images(shift: str, pool, labels, indices, resolution: int) -> torch.Tensor:
    """The model inputs (N, 3, R, R) of the indexed items under one shift; item i's randomness is seeded by i."""
    return torch.stack([normalize(shifted(shift, pool, labels, i, resolution, random.Random(f"{shift}/{i}")))
                        for i in indices])


@torch.no_grad()
def logits_of(model, x: torch.Tensor, batch: int = 256) -> torch.Tensor:
    return torch.cat([model(x[s:s + batch]).float() for s in range(0, len(x), batch)])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(REPO / "data" / "robustness.json"))
    parser.add_argument("--test-images", type=int, default=2000)
    parser.add_argument("--probe-images", type=int, default=10_000)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    test_pool, test_labels = (torch.as_tensor(a) for a in load_fashion_mnist("test"))
    train_pool, train_labels = (torch.as_tensor(a) for a in load_fashion_mnist("train"))
    test_idx = torch.randperm(len(test_labels), generator=torch.Generator().manual_seed(0))[:args.test_images]
    y = test_labels[test_idx]

    scenes, _ = load("fashion-scenes-cpu", device="cpu")
    labels_clip, _ = load("fashion-mnist-cpu", device="cpu")
    scenes.eval(), labels_clip.eval()
    own_names = [article(c.lower()) for c in FASHION_MNIST_CLASSES]
    classifiers = {"scenes CLIP, zero-shot": (scenes, zero_shot_classifier(scenes, own_names, EVAL_FRAMES)),
                   "label CLIP, zero-shot": (labels_clip, zero_shot_classifier(labels_clip, CLASSNAMES,
                                                                                EVAL_TEMPLATES))}

    print("training the supervised baseline ...", flush=True)
    t = time.perf_counter()
    config = CLIPConfig.cpu(image_resolution=scenes.config.image_resolution)
    torch.manual_seed(0)
    supervised = SupervisedBaseline(config, num_classes=10)
    train_supervised(supervised, FashionMNISTPairs("train", resolution=config.image_resolution, seed=0),
                     TrainConfig.cpu(device="cpu"), progress=False)
    supervised.eval()
    baseline_seconds = time.perf_counter() - t

    print("fitting the probe ...", flush=True)
    probe_idx = torch.randperm(len(train_labels), generator=torch.Generator().manual_seed(1))[:args.probe_images]
    x_probe = images("original", train_pool, train_labels, probe_idx.tolist(), scenes.config.image_resolution)
    probe = train_linear_probe(encode_images(scenes, x_probe), train_labels[probe_idx], 10)

    accuracy = {name: {} for name in (*classifiers, "supervised", "probe on scenes CLIP")}
    for shift in SHIFTS:
        x = {r: images(shift, test_pool, test_labels, test_idx.tolist(), r) for r in (64, 128)}
        for name, (model, weights) in classifiers.items():
            scores = encode_images(model, x[model.config.image_resolution]) @ weights.cpu()  # (N, 10)
            accuracy[name][shift] = (scores.argmax(1) == y).float().mean().item()
        features = encode_images(scenes, x[64])
        accuracy["probe on scenes CLIP"][shift] = (probe(features).argmax(1) == y).float().mean().item()
        accuracy["supervised"][shift] = (logits_of(supervised, x[64]).argmax(1) == y).float().mean().item()
        print(f"{shift:12}" + "".join(f"{100 * a[shift]:8.1f}" for a in accuracy.values()), flush=True)

    shifts = [s for s in SHIFTS if s != "original"]
    ref = accuracy["supervised"]
    rows = []
    for name, acc in accuracy.items():
        kept = {s: acc[s] / acc["original"] for s in shifts}
        effective = {s: acc[s] - acc["original"] * ref[s] / ref["original"] for s in shifts}
        rows.append({"model": name, "accuracy": {s: round(a, 4) for s, a in acc.items()},
                     "mean_shifted": round(sum(acc[s] for s in shifts) / len(shifts), 4),
                     "kept": {s: round(k, 4) for s, k in kept.items()},
                     "effective_robustness": {s: round(e, 4) for s, e in effective.items()},
                     "mean_effective_robustness": round(sum(effective.values()) / len(shifts), 4)})
    record = {
        "settings": {"test_images": args.test_images, "test_subset": "torch.randperm(10,000, seed 0)[:n]",
                     "shifts": list(SHIFTS), "probe_images": args.probe_images,
                     "supervised": "SupervisedBaseline(CLIPConfig.cpu(image_resolution=64)), TrainConfig.cpu(), "
                                   "Fashion-MNIST train, seed 0",
                     "effective_robustness": "accuracy under shift minus original accuracy x the supervised "
                                             "model's shifted / original accuracy"},
        "models": rows, "baseline_train_seconds": round(baseline_seconds, 1),
    }
    for r in rows:
        print(f"{r['model']:24} original {100 * r['accuracy']['original']:5.1f}%  mean shifted "
              f"{100 * r['mean_shifted']:5.1f}%  effective robustness {100 * r['mean_effective_robustness']:+5.1f}")
    finish_record(args.out, "measure_robustness.py", record, started, args.threads)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
