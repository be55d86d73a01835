"""Measure compositional zero-shot transfer on minclip's synthetic shapes: train a small CLIP on the training
combinations of colour and shape, then classify images of the held-out combinations (never seen together).

Run from the repository root:  .venv/bin/python scripts/measure_shapes_heldout.py
Writes data/models/shapes-heldout.json (settings, timings, accuracies, machine); chapter 7 reads it.
"""

import json
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from minclip.datasets import HOLDOUT, SyntheticShapes, collate  # noqa: E402
from minclip.model import CLIP, CLIPConfig  # noqa: E402
from minclip.train import TrainConfig, train  # noqa: E402
from minclip.zeroshot import zero_shot_classifier, zero_shot_eval  # noqa: E402
from scripts.records import machine_name, write_record  # noqa: E402

MODEL = CLIPConfig(embed_dim=64, image_resolution=64, vision_layers=(1, 1, 1, 1), vision_width=8,
                   vision_patch_size=None, context_length=16, transformer_width=64, transformer_heads=1,
                   transformer_layers=2)
TRAIN = TrainConfig(epochs=3, batch_size=64, lr=2e-3, warmup_steps=20, device="cpu", seed=0)
TEMPLATES = ["a {}", "a small {}", "a large {}"]


def main() -> int:
    torch.set_num_threads(2)
    torch.manual_seed(TRAIN.seed)
    model = CLIP(MODEL)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        train(model, SyntheticShapes(4096, resolution=64, seed=0), TRAIN, tmp, progress=False)
    seconds = time.perf_counter() - started
    seen = SyntheticShapes(1024, resolution=64, seed=1)
    heldout = SyntheticShapes(1024, resolution=64, seed=2, split="heldout")
    classifier = zero_shot_classifier(model, seen.classnames, TEMPLATES)  # all 12 colour-shape pairs
    results = {}
    for name, data in (("seen_combinations", seen), ("heldout_combinations", heldout)):
        loader = torch.utils.data.DataLoader(data, batch_size=256, collate_fn=collate)
        results[name] = zero_shot_eval(model, loader, classifier, progress=False)
    record = {
        "command": "python scripts/measure_shapes_heldout.py",
        "model_config": MODEL.to_dict(), "train_config": TRAIN.to_dict(), "train_images": 4096,
        "heldout_pairs": [list(p) for p in HOLDOUT], "classes": list(seen.classnames), "templates": TEMPLATES,
        "train_seconds": round(seconds, 1), **results, "chance_top1": 1 / len(seen.classnames),
        "machine": {"cpu": machine_name("cpu"), "threads": 2, "torch": torch.__version__},
        "date": time.strftime("%Y-%m-%d"),
    }
    write_record(REPO / "data" / "models" / "shapes-heldout.json", record)
    print(json.dumps({k: results[k]["top1"] for k in results}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
