"""What the scenes model does with a class it never saw: one Fashion-MNIST category held out of all training.

Radford et al. 2021 (sections 6 and 7) stress that CLIP can only name what its captions taught it. Here the
scenes model's configuration is trained twice for `--steps` steps with the shipped settings: once on the usual
stream (the control) and once with one category held out of the train split (`SceneConfig(heldout_categories)`:
no image of it and so no caption). Both are then asked zero-shot, in the data set's own class names, about
Fashion-MNIST test images: how often the held-out class is named, where its images go instead, and what happens
to the other nine classes. The record keeps each model's predictions for the held-out class's images of the
committed sample (minclip.datasets.load_sample), so the book can show them.

    .venv/bin/python scripts/measure_unseen_class.py      # writes data/unseen-class.json (~8 minutes)
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from minclip.data import FASHION_MNIST_CLASSES, load_fashion_mnist  # noqa: E402
from minclip.datasets import load_sample, to_model_input  # noqa: E402
from minclip.scene_text import EVAL_FRAMES, article  # noqa: E402
from minclip.scenes import FashionScenes, SceneConfig  # noqa: E402
from minclip.train import TrainConfig, new_model, train  # noqa: E402
from minclip.train_cli import model_config  # noqa: E402
from minclip.zeroshot import encode_images, zero_shot_classifier  # noqa: E402
from scripts.records import finish_record  # noqa: E402

NAMES = [article(c.lower()) for c in FASHION_MNIST_CLASSES]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(REPO / "data" / "unseen-class.json"))
    parser.add_argument("--category", type=int, default=8, help="the label held out (default 8, bag)")
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--test-images", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    images, labels = (torch.as_tensor(a) for a in load_fashion_mnist("test"))
    subset = torch.randperm(len(labels), generator=torch.Generator().manual_seed(0))[:args.test_images]
    x = torch.stack([to_model_input(im, 64) for im in images[subset]])  # (N, 3, 64, 64)
    y = labels[subset]
    sample_images, sample_labels = (torch.as_tensor(a) for a in load_sample())
    shown = (sample_labels == args.category).nonzero().flatten()[:12]
    x_shown = torch.stack([to_model_input(sample_images[i], 64) for i in shown])
    train_config = TrainConfig.cpu(device="cpu")
    runs = {}
    for name, held in (("control", ()), ("held out", (args.category,))):
        config = SceneConfig(resolution=64, heldout_categories=held)
        data = FashionScenes("train", n=args.steps * train_config.batch_size, config=config)
        model = new_model(model_config("cpu", "fashion-scenes"), seed=0)
        t = time.perf_counter()
        train(model, data, train_config, None, progress=False)
        seconds = time.perf_counter() - t
        model.eval()
        weights = zero_shot_classifier(model, NAMES, EVAL_FRAMES)  # (D, 10)
        pred = (encode_images(model, x) @ weights).argmax(1)
        is_held = y == args.category
        where = torch.bincount(pred[is_held], minlength=10)
        probs = (model.logit_scale.exp() * encode_images(model, x_shown) @ weights).softmax(1)  # (12, 10)
        runs[name] = {
            "train_seconds": round(seconds, 1),
            "held_class_top1": round((pred[is_held] == args.category).float().mean().item(), 4),
            "held_class_predicted_as": {NAMES[k]: int(where[k]) for k in range(10)},
            "other_classes_top1": round((pred[~is_held] == y[~is_held]).float().mean().item(), 4),
            "named_held_class_when_not": int(((pred == args.category) & ~is_held).sum()),
            "sample_predictions": [{"sample_index": int(i), "top3": [[NAMES[k], round(p.item(), 3)] for p, k in
                                                                      zip(*row.topk(3))]}
                                   for i, row in zip(shown, probs)],
        }
        r = runs[name]
        print(f"{name:9}: {NAMES[args.category]} named on {100 * r['held_class_top1']:.1f}% of its images; "
              f"other classes {100 * r['other_classes_top1']:.1f}%; {seconds:.0f} s", flush=True)
    record = {
        "settings": {"category": args.category, "class_name": NAMES[args.category], "steps": args.steps,
                     "train_config": train_config.to_dict(), "test_images": args.test_images,
                     "test_subset": "torch.randperm(10,000, seed 0)[:n]", "classnames": NAMES,
                     "templates": list(EVAL_FRAMES)},
        "n_held_class_images": int((y == args.category).sum()), "runs": runs,
    }
    finish_record(args.out, "measure_unseen_class.py", record, started, args.threads)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
