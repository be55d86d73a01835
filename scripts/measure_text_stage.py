"""How reliably the shipped recipe's text stage learns word order: the text tower of a new model taught alone
(minclip.word_order.teach_word_order, bf16 where the CPU has it) for 300 steps of 128 triples at the recipe's
learning rate (1e-3) from three seeds, and at twice that rate for 300 and 600 steps from the same seeds.

Converse over swap (minclip.word_order) is measured after each run on 300 held-out test-split triples, bare and
in caption frames. The loss falls late and suddenly: a run that has not learnt order ends near 0.5-0.7, one that
has, below 0.1.

    .venv/bin/python scripts/measure_text_stage.py      # data/text-stage.json, about 13 minutes on two cores
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

# (steps, triples a step, learning rate, seeds): the recipe's stage (python -m minclip.train --dataset
# fashion-scenes), and the same at twice the learning rate, for as long and for twice as long
RUNS = ((300, 128, 1e-3, (0, 1, 2)), (300, 128, 2e-3, (0, 1, 2)), (600, 128, 2e-3, (0, 1, 2)))


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
    for steps, triples, lr, seeds in RUNS:
        for seed in seeds:  # the seed of the weights and of the triples, as --seed sets both in minclip.train
            model = new_model(model_config("cpu", "fashion-scenes"), seed)
            clock = time.perf_counter()
            loss = teach_word_order(model, items, steps, triples=triples, lr=lr, seed=seed, amp=cpu_has_bf16())
            row = {"steps": steps, "triples": triples, "lr": lr, "seed": seed, "last_loss": round(loss, 4),
                   "seconds": round(time.perf_counter() - clock, 1),
                   **{f"converse_over_swap_{k}": round(converse_over_swap(model, t), 4) for k, t in held_out.items()}}
            print(row, flush=True)
            rows.append(row)
    finish_record(args.out, "measure_text_stage.py", {
        "runs": rows, "bf16": cpu_has_bf16(), "model": "CLIPConfig.cpu(image_resolution=64)",
        "held_out": "300 converse triples from the test split (random.Random(7)), bare and framed"}, started,
        args.threads)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
