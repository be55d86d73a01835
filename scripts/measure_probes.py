"""Zero-shot against few-shot linear probes, task by task: how many labelled images is a prompt worth?

Radford et al. 2021, figures 5 and 6 (section 3.1.5): zero-shot CLIP is compared with a logistic-regression probe
on the same frozen image features, trained on 1, 2, 4, 8 and 16 labelled examples per class; where the probe
catches up is what the prompt was worth. Here for every classification task of the zero-shot suite
(minclip.tasks; binding compares two captions and has no classes to probe):

- zero-shot: the task's class phrases in the held-out prompt frames, on test images rendered from Fashion-MNIST
  *test* items (the suite exactly as the shipped models' records measure it);
- probes: `minclip.probe.train_linear_probe` on the model's normalised image features of k examples per class,
  drawn from a second set of the same task rendered from Fashion-MNIST *train* items, for several seeds; scored
  on the same test images. The two colour x category tasks share one 110-way probe, fitted on examples of every
  pair (held-out pairs too: a probe is given labelled examples, which is the point), so that it chooses among
  the same 110 classes as zero-shot does.

    .venv/bin/python scripts/measure_probes.py                      # the shipped scenes model, data/probes.json
    .venv/bin/python scripts/measure_probes.py --model fashion-mnist-cpu --out data/probes-labels.json

It needs Fashion-MNIST (`make data`) and takes a few minutes on two CPU cores.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from minclip import load  # noqa: E402
from minclip.data import load_fashion_mnist  # noqa: E402
from minclip.probe import few_shot_indices, probe_accuracy, train_linear_probe  # noqa: E402
from minclip.tasks import build_tasks, evaluate_task  # noqa: E402
from minclip.zeroshot import encode_images  # noqa: E402
from scripts.records import finish_record  # noqa: E402

SHOTS = (1, 2, 4, 8, 16)


def worth(shots: list[int], probe: list[float], zero_shot: float) -> float | None:
    """The labelled examples per class at which the mean probe curve reaches zero-shot, interpolated linearly in
    log2(shots) between the measured points (the paper's figure 6 reads it the same way). 0 if even one example
    per class beats zero-shot; None if the probe stays below it up to the largest number measured."""
    if probe[0] >= zero_shot:
        return 0.0
    for (k0, a0), (k1, a1) in zip(zip(shots, probe), zip(shots[1:], probe[1:])):
        if a0 < zero_shot <= a1:
            t = (zero_shot - a0) / (a1 - a0)
            return round(2 ** (math.log2(k0) + t * (math.log2(k1) - math.log2(k0))), 2)
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="fashion-scenes-cpu")
    parser.add_argument("--out", default=str(REPO / "data" / "probes.json"))
    parser.add_argument("--test-images", type=int, default=1000, help="test images per task")
    parser.add_argument("--train-images", type=int, default=4000, help="labelled images per task to draw from")
    parser.add_argument("--fashion-mnist-images", type=int, default=10_000, help="test images of that task")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    model, _ = load(args.model, device="cpu")
    model.eval()
    resolution = model.config.image_resolution
    test_pool = tuple(torch.as_tensor(a) for a in load_fashion_mnist("test"))
    train_pool = tuple(torch.as_tensor(a) for a in load_fashion_mnist("train"))
    test_tasks = build_tasks(test_pool, n=args.test_images, resolution=resolution,  # as the records measure
                             fashion_mnist=tuple(a[:args.fashion_mnist_images] for a in test_pool))
    train_tasks = build_tasks(train_pool, n=args.train_images, resolution=resolution, seed=1,
                              fashion_mnist=tuple(a[:args.train_images] for a in train_pool))
    labelled = {t.name: (encode_images(model, t.images), t.labels) for t in train_tasks if t.kind == "classify"}
    combos = [labelled.pop(name) for name in ("seen combos", "held-out combos")]  # one pool of all 110 pairs
    labelled["seen combos"] = labelled["held-out combos"] = tuple(torch.cat(parts) for parts in zip(*combos))
    rows = []
    for test in test_tasks:
        if test.kind != "classify":
            continue
        zero_shot = evaluate_task(model, test)["top1"]
        x_test = encode_images(model, test.images)  # (N, D)
        x_train, y_train = labelled[test.name]
        classes = len(test.classnames)
        assert set(y_train.tolist()) == set(range(classes)), test.name  # examples of every class
        curve = {}
        for k in SHOTS:
            accs = []
            for seed in range(args.seeds):
                idx = few_shot_indices(y_train, shots=k, seed=seed)
                probe = train_linear_probe(x_train[idx], y_train[idx], classes, seed=seed)
                accs.append(probe_accuracy(probe, x_test, test.labels))
            curve[k] = accs
        means = [sum(curve[k]) / len(curve[k]) for k in SHOTS]
        rows.append({"task": test.name, "classes": classes,
                     "chance": test.chance, "n_test": len(test.images), "zero_shot": round(zero_shot, 4),
                     "probe": {str(k): [round(a, 4) for a in curve[k]] for k in SHOTS},
                     "probe_mean": [round(m, 4) for m in means],
                     "shots_to_match": worth(list(SHOTS), means, zero_shot)})
        k_text = rows[-1]["shots_to_match"]
        print(f"{test.name:16} zero-shot {100 * zero_shot:5.1f}%  probe "
              + " ".join(f"{k}:{100 * m:5.1f}" for k, m in zip(SHOTS, means))
              + f"  worth {k_text if k_text is not None else '>16'} per class", flush=True)
    record = {
        "model": args.model,
        "settings": {"shots": list(SHOTS), "seeds": args.seeds, "test_images_per_task": args.test_images,
                     "fashion_mnist_test_images": args.fashion_mnist_images,
                     "train_images_per_task": args.train_images, "probe": "train_linear_probe, L-BFGS, "
                     "weight_decay 1e-4, 100 steps, on normalised image features",
                     "test": "build_tasks(Fashion-MNIST test items, seed 0): the suite of the model's record",
                     "train": "build_tasks(Fashion-MNIST train items, seed 1); fashion-mnist: its first train images"},
        "tasks": rows,
    }
    finish_record(args.out, "measure_probes.py", record, started, args.threads)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
