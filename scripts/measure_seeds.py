"""How much the scenes model's figures depend on the seed, and on the length of its learning-rate warm-up.

The plain recipe's model (CLIP's loss alone; shipped as `fashion-scenes-cpu` until 2026-12-07, data/plain-recipe.json)
is one training run from one seed (0). A reader who trains it again with another `--seed` gets other weights,
another data order and other captions; this script trains the plain recipe (minclip.train_cli: `python -m
minclip.train --dataset fashion-scenes --recipe plain --seed S`, the same model, schedule and stream) for each of
`--seeds`, once for each of `--warmups` warm-up lengths, and scores every run on the task table of the shipped
records (scripts/train_shipped_model.py's suite: 1,000 test scenes a task, all 10,000 Fashion-MNIST test images in
the data set's own names, plural-query precision@10). Each run is about as long as training that model. The
shipped language-first recipe's seeds: `python scripts/train_shipped_model.py --seed S --record PATH`.

    .venv/bin/python scripts/measure_seeds.py --seeds 1 2 --warmups 50 200   # data/seeds.json (~40 minutes)
    .venv/bin/python scripts/measure_seeds.py --seeds 3 --out /tmp/seed3.json  # one more seed, the schedule's warm-up
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from minclip.train import new_model, train  # noqa: E402
from minclip.train_cli import build_datasets, model_config, schedule  # noqa: E402
from scripts.records import finish_record  # noqa: E402
from scripts.train_shipped_model import suite  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(REPO / "data" / "seeds.json"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--warmups", type=int, nargs="+", default=None,
                        help="warm-up steps to train each seed with (default: the schedule's)")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    shipped = schedule("cpu", "fashion-scenes", device="cpu")
    runs = []
    for warmup in args.warmups or [shipped.warmup_steps]:
        for seed in args.seeds:
            config = schedule("cpu", "fashion-scenes", device="cpu", seed=seed, warmup_steps=warmup)
            model = new_model(model_config("cpu", "fashion-scenes"), seed)
            train_set, *_ = build_datasets("fashion-scenes", model.config.image_resolution, seed)
            clock = time.perf_counter()
            train(model, train_set, config, None, progress=False)
            seconds = time.perf_counter() - clock
            measured = suite(model)
            tasks = {row["task"]: row["top1"] for row in measured["tasks"]}
            runs.append({"seed": seed, "warmup_steps": warmup, "train_seconds": round(seconds, 1), **tasks,
                         "plural P@10": round(measured["plural_queries"]["precision"], 4)})
            print(", ".join(f"{k} {v}" for k, v in runs[-1].items()), flush=True)
    finish_record(args.out, "measure_seeds.py", {
        "recipe": "python -m minclip.train --dataset fashion-scenes --seed S (--warmup-steps W)",
        "train_config": shipped.to_dict(),
        "evaluation": "scripts/train_shipped_model.py's suite: build_tasks over the Fashion-MNIST test split, "
                      "1,000 scenes a task, fashion-mnist on all 10,000 test images; weights in float32",
        "runs": runs,
    }, started, args.threads)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
