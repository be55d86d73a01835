"""How many steps the language-first recipe's text stage needs: the text tower of a new model taught word order
alone (minclip.word_order.teach_word_order, bf16 where the CPU has it), for several step counts, batch sizes and
learning rates; one of them three times, to see whether a run repeats itself.

Converse over swap (minclip.word_order) is measured after each run on 300 held-out test-split triples, bare and
in caption frames. The loss falls late and suddenly: a run that has not yet learnt order ends near 0.6-0.7, one
that has, below 0.1. The recipe's 600 steps of 128 (`python -m minclip.train --text-steps 600`) are one row.

    .venv/bin/python scripts/measure_text_stage.py      # data/text-stage.json, about 12 minutes on two cores
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

from minclip.scenes import FashionScenes  # noqa: E402
from minclip.train import cpu_has_bf16, new_model  # noqa: E402
from minclip.train_cli import model_config  # noqa: E402
from minclip.word_order import converse_over_swap, converse_triples, teach_word_order  # noqa: E402
from scripts.records import finish_record  # noqa: E402

# (steps, triples a step, learning rate, repeats): the recipe's stage, half of it three times, and half of it
# with twice the learning rate or half the batch
RUNS = ((600, 128, 2e-3, 1), (300, 128, 2e-3, 3), (300, 128, 4e-3, 1), (600, 64, 2e-3, 1))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(REPO / "data" / "text-stage.json"))
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    items, test = FashionScenes("train", n=1), FashionScenes("test", n=1)
    held_out = {name: converse_triples(test.labels, "test", random.Random(7), 300, framed)
                for name, framed in (("bare", 0.0), ("framed", 1.0))}
    rows = []
    for steps, triples, lr, repeats in RUNS:
        for repeat in range(repeats):  # the same seed each time: any difference is the arithmetic's, not the data's
            model = new_model(model_config("cpu", "fashion-scenes"), 0)
            clock = time.perf_counter()
            loss = teach_word_order(model, items, steps, triples=triples, lr=lr, amp=cpu_has_bf16())
            row = {"steps": steps, "triples": triples, "lr": lr, "repeat": repeat + 1, "last_loss": round(loss, 4),
                   "seconds": round(time.perf_counter() - clock, 1),
                   **{f"converse_over_swap_{k}": round(converse_over_swap(model, t), 4) for k, t in held_out.items()}}
            print(row, flush=True)
            rows.append(row)
    finish_record(args.out, "measure_text_stage.py", {
        "runs": rows, "bf16": cpu_has_bf16(), "model": "CLIPConfig.cpu(image_resolution=64), seed 0",
        "held_out": "300 converse triples from the test split (random.Random(7)), bare and framed"}, started,
        args.threads)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
