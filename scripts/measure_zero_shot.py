"""Measure the shipped model's zero-shot accuracy under several prompts, and linear probes, on Fashion-MNIST.

Usage: python scripts/measure_zero_shot.py [--train-subset N]

Writes minclip/assets/models/fashion-mnist-cpu.zeroshot.json, the figures book/07_zero_shot.ipynb quotes: top-1/top-5 on
the full test set (10,000 images) for the bare class name, "a photo of a {}.", the EVAL_TEMPLATES ensemble and
edited class names with the ensemble; the ensemble's confusion matrix; and logistic-regression probes
(minclip.probe) trained on 1, 2, 4 and 16 images per class (3 seeds each) and on all of a fixed random subset
of the train split, evaluated on the test set. Needs the full data set (minclip.data.load_fashion_mnist).
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import minclip  # noqa: E402
from minclip.captions import CLASSNAMES, EVAL_TEMPLATES  # noqa: E402
from minclip.data import load_fashion_mnist  # noqa: E402
from minclip.datasets import FashionMNISTPairs, collate  # noqa: E402
from minclip.probe import extract_features, few_shot_indices, probe_accuracy, train_linear_probe  # noqa: E402
from minclip.resources import asset  # noqa: E402
from minclip.zeroshot import topk_accuracy, zero_shot_classifier  # noqa: E402
from scripts.records import git_commit, write_record  # noqa: E402

OUT = asset("models/fashion-mnist-cpu.zeroshot.json")

# class names as a person might edit them after looking at the mistakes: Fashion-MNIST's own label "T-shirt/top",
# and phrases the captions use for the same classes (minclip.captions.SYNONYMS)
EDITED_NAMES = {"t-shirt": "t-shirt or top", "trousers": "pair of trousers", "shirt": "button-up shirt",
                "bag": "handbag", "ankle boot": "short boot"}
PROMPTS = {
    "bare name": (CLASSNAMES, ("{}",)),
    "a photo of a {}.": (CLASSNAMES, ("a photo of a {}.",)),
    "ensemble": (CLASSNAMES, EVAL_TEMPLATES),
    "edited names + ensemble": (tuple(EDITED_NAMES.get(c, c) for c in CLASSNAMES), EVAL_TEMPLATES),
}
SHOTS = (1, 2, 4, 16)
SEEDS = (0, 1, 2)


def topk(scores: torch.Tensor, labels: torch.Tensor) -> dict[str, float]:
    return {name: round(value, 4) for name, value in topk_accuracy(scores, labels, (1, 5)).items()}


def features_of(model, images, labels, resolution):
    dataset = FashionMNISTPairs("x", resolution=resolution, images=images, labels=labels)
    return extract_features(model, DataLoader(dataset, batch_size=250, collate_fn=collate))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-subset", type=int, default=10_000,
                        help="train images whose features the probes use (0: all 60,000)")
    args = parser.parse_args()
    torch.manual_seed(0)
    start = time.perf_counter()
    model, _ = minclip.load("fashion-mnist-cpu")
    model.eval()
    resolution = model.config.image_resolution

    test_images, test_labels = load_fashion_mnist("test")
    train_images, train_labels = load_fashion_mnist("train")
    subset = None
    if args.train_subset and args.train_subset < len(train_labels):
        subset = torch.randperm(len(train_labels), generator=torch.Generator().manual_seed(0))[:args.train_subset]
        train_images, train_labels = train_images[subset], train_labels[subset]

    test_x, test_y = features_of(model, test_images, test_labels, resolution)
    t_test = time.perf_counter() - start

    zero_shot, confusion = {}, None
    for name, (classnames, templates) in PROMPTS.items():
        classifier = zero_shot_classifier(model, classnames, templates)  # (D, C)
        scores = test_x @ classifier
        zero_shot[name] = {**topk(scores, test_y), "classnames": list(classnames), "templates": list(templates)}
        if name == "ensemble":
            pred = scores.argmax(-1)
            confusion = torch.zeros(10, 10, dtype=torch.int64)
            confusion.index_put_((test_y, pred), torch.ones_like(pred), accumulate=True)

    train_x, train_y = features_of(model, train_images, train_labels, resolution)
    t_train = time.perf_counter() - start - t_test

    probe = {}
    for shots in SHOTS:
        accs = []
        for seed in SEEDS:
            idx = few_shot_indices(train_y, shots, seed=seed)
            p = train_linear_probe(train_x[idx], train_y[idx], 10, seed=seed)
            accs.append(probe_accuracy(p, test_x, test_y))
        probe[f"{shots}-shot"] = {"top1_mean": round(sum(accs) / len(accs), 4),
                                  "top1_per_seed": [round(a, 4) for a in accs], "seeds": list(SEEDS)}
    p = train_linear_probe(train_x, train_y, 10, seed=0)
    probe["full"] = {"top1_mean": round(probe_accuracy(p, test_x, test_y), 4), "train_images": len(train_y)}

    result = {
        "model": "fashion-mnist-cpu",
        "command": "python scripts/measure_zero_shot.py" + (f" --train-subset {args.train_subset}" if subset is not None
                                                             else " --train-subset 0"),
        "git_commit": git_commit(),
        "test_images": len(test_y),
        "zero_shot": zero_shot,
        "edited_names": EDITED_NAMES,
        "confusion_ensemble": {"rows": "true class", "columns": "predicted class", "classnames": list(CLASSNAMES),
                               "matrix": confusion.tolist()},
        "linear_probe": probe,
        "probe_settings": {
            "method": "minclip.probe.train_linear_probe: L-BFGS, 100 iterations, weight_decay 1e-4, full batch",
            "features": "normalised image embeddings (minclip.zeroshot.extract_features)",
            "train_pool": (f"a fixed random subset of {len(train_y):,} train images (torch.randperm, seed 0); "
                           "few-shot examples are drawn from it and 'full' uses all of it")
            if subset is not None else "the full train split (60,000 images)",
            "few_shot_seeds": list(SEEDS),
        },
        "seconds": {"test_features": round(t_test, 1), "train_features": round(t_train, 1),
                    "total": round(time.perf_counter() - start, 1)},
        "machine": {"threads": torch.get_num_threads(), "torch": torch.__version__,
                    "python": platform.python_version()},
        "date": time.strftime("%Y-%m-%d", time.gmtime()),
    }
    write_record(OUT, result)

    print(f"{'prompt':<26}{'top-1':>8}{'top-5':>8}")
    for name, r in zero_shot.items():
        print(f"{name:<26}{100 * r['top1']:>7.2f}%{100 * r['top5']:>7.2f}%")
    print(f"\n{'linear probe':<26}{'top-1':>8}")
    for name, r in probe.items():
        print(f"{name:<26}{100 * r['top1_mean']:>7.2f}%")
    print(f"\nwrote {OUT.relative_to(REPO)} in {result['seconds']['total']} s")


if __name__ == "__main__":
    main()
