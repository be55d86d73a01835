"""Train the supervised baseline of the shipped model's image encoder and write the record the book reads.

Run from the repository root (it needs the full Fashion-MNIST: `make data`; about as long as the shipped model's
training, TrainConfig.cpu()):

    python scripts/train_baseline.py --out data/models/supervised-baseline.json

The model and its training are minclip.baseline's (the `cpu` preset's image encoder and a linear layer, trained
with cross-entropy on the labels on CLIP's loop and schedule); this script adds the bookkeeping: the command, the
timings, the test accuracy in percent, the machine.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from minclip import datasets  # noqa: E402
from minclip.baseline import SupervisedBaseline, accuracy, train_supervised  # noqa: E402
from minclip.model import CLIPConfig  # noqa: E402
from minclip.train import TrainConfig, pick_device  # noqa: E402
from scripts.records import machine_name, percent, write_record  # noqa: E402

COMMAND = "python scripts/train_baseline.py"
WHAT = "supervised baseline: the cpu preset's image encoder + a linear layer, cross-entropy on the labels"


def measure(config: TrainConfig, model_config: CLIPConfig, train_set, test_set, progress: bool = True) -> dict:
    """Train a baseline (seeded with config.seed) on train_set and score it on test_set: the record's figures."""
    torch.manual_seed(config.seed)
    model = SupervisedBaseline(model_config, num_classes=len(train_set.classnames))
    started = time.perf_counter()
    history = train_supervised(model, train_set, config, progress=progress)
    seconds = time.perf_counter() - started
    loader = torch.utils.data.DataLoader(test_set, batch_size=256, collate_fn=datasets.collate)
    return {"train_config": config.to_dict(), "history": history, "train_seconds": round(seconds, 1),
            "test": percent(accuracy(model, loader, progress=progress))}


def fashion_mnist(resolution: int, seed: int) -> tuple:
    """The full Fashion-MNIST: the train split (captions seeded as in CLIP's run) and the test split."""
    return (datasets.FashionMNISTPairs("train", resolution=resolution, seed=seed),
            datasets.FashionMNISTPairs("test", resolution=resolution))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=COMMAND, description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="data/models/supervised-baseline.json")
    parser.add_argument("--epochs", type=int, default=1, help="TrainConfig.cpu(), the shipped model's schedule, has 1")
    parser.add_argument("--device", default=None)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--num-workers", type=int, default=0)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    config = TrainConfig.cpu(epochs=args.epochs, device=args.device, num_workers=args.num_workers)
    model_config = CLIPConfig.cpu()
    train_set, test_set = fashion_mnist(model_config.image_resolution, config.seed)
    device = pick_device(args.device)
    record = {
        "what": WHAT, "command": " ".join([COMMAND, *(sys.argv[1:] if argv is None else argv)]),
        **measure(config, model_config, train_set, test_set), "device": str(device),
        "machine": machine_name(device), "threads": args.threads, "torch": torch.__version__,
    }
    write_record(args.out, record)
    print(json.dumps(record["test"]), f"{record['train_seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
