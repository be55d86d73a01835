"""Relation binding without losing the rest: the plain scenes model fine-tuned in two stages, measured.

scripts/measure_binding.py found that the image side learns binding once the text side reads word order (its
question 5: the text tower alone trained on converse triples, then the image tower with the text frozen), but
that text tower had forgotten colour and position, and nothing brought them back. This script asks whether a
second stage that trains *both* towers on the ordinary scene stream brings them back while binding stays:

1. text alone: the plain model's text tower, `--text-steps` batches of 128 bare converse triples
   (minclip.word_order), AdamW at a constant `--text-lr`: measure_binding.py's question 5;
2. both towers: `--joint-steps` steps of CLIP's loss on Fashion Scenes in which half of the scene pairs are
   twins (half of those relation twins, the rest position and colour twins) and every relation caption carries
   its swap as an extra negative (NegCLIP), plus the word-order term (minclip.word_order.WordOrderStep: 64
   triples a step, weight 3, bare sentences; `--framed` puts a fraction in caption frames), bf16 where the CPU
   has it.

After each stage: the shipped record's figures (scripts/train_shipped_model.suite: the zero-shot task suite on
Fashion-MNIST's test split, 1,000 scenes a task and the 10,000 real test images, and plural-query precision@10),
and the text tower's word order (converse over swap on 500 held-out triples, bare and framed).

    .venv/bin/python scripts/measure_binding_recipe.py      # data/binding-recipe.json, about 21 minutes

It needs Fashion-MNIST (`make data`) and the plain recipe's weights (--model; scripts/measure_binding.py says
how to make them). The result is a measurement, not a shipped model: see data/README.md. The record calls the
plain model's stage "shipped", as it was when the record was made.
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
from minclip.recipes import WORD_ORDER_WEIGHT  # noqa: E402
from minclip.scenes import FashionScenes, SceneConfig  # noqa: E402
from minclip.train import TrainConfig, train  # noqa: E402
from minclip.word_order import WordOrderStep, converse_over_swap, converse_triples, teach_word_order  # noqa: E402
from scripts.records import PLAIN_MODEL, finish_record, plain_model  # noqa: E402
from scripts.train_shipped_model import suite  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(REPO / "data" / "binding-recipe.json"))
    parser.add_argument("--text-steps", type=int, default=1200)
    parser.add_argument("--text-lr", type=float, default=2e-3)
    parser.add_argument("--joint-steps", type=int, default=1200)
    parser.add_argument("--joint-lr", type=float, default=1e-3)
    parser.add_argument("--framed", type=float, default=0.0, help="stage 2: fraction of triples in a caption frame")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--model", default=str(PLAIN_MODEL), help="the plain recipe's weights (default: %(default)s)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    test_labels = FashionScenes("test", n=1).labels
    held_out = {name: converse_triples(test_labels, "test", random.Random(7), 500, framed)
                for name, framed in (("bare", 0.0), ("framed", 1.0))}

    def scores(model, stage: str, seconds: float) -> dict:
        figures = suite(model)
        row = {r["task"]: r["top1"] for r in figures["tasks"]}
        row["plural queries"] = figures["plural_queries"]["precision"]
        row["converse over swap"] = {k: round(converse_over_swap(model, t), 4) for k, t in held_out.items()}
        row["seconds"] = round(seconds, 1)
        print(stage, row, flush=True)
        return row

    model, _ = load(plain_model(args.model), device="cpu")
    stages = {"shipped": scores(model, "shipped", 0.0)}

    clock = time.perf_counter()
    teach_word_order(model, FashionScenes("train", n=1), args.text_steps, lr=args.text_lr)
    stages["1. text alone"] = scores(model, "1. text alone", time.perf_counter() - clock)

    clock = time.perf_counter()
    stream = FashionScenes("train", n=128 * args.joint_steps, config=SceneConfig.binding(original=0.4), seed=12)
    config = TrainConfig.cpu(epochs=1, lr=args.joint_lr, warmup_steps=50, cpu_amp=True, device="cpu")
    step = WordOrderStep(model, stream, triples=64, weight=WORD_ORDER_WEIGHT, seed=4, framed=args.framed)
    train(model, stream, config, None, progress=False, objective=step)
    stages["2. both towers"] = scores(model, "2. both towers", time.perf_counter() - clock)

    finish_record(args.out, "measure_binding_recipe.py", {
        "stages": stages,
        "text stage": {"steps": args.text_steps, "lr": args.text_lr, "triples per step": 128, "framed": 0.0,
                       "what": "minclip.word_order.teach_word_order"},
        "joint stage": {"steps": args.joint_steps, "stream": "SceneConfig(twins=0.5, twin_kinds={relation: 0.5, "
                        "position: 0.25, colour: 0.25}, hard_negatives=True), seed 12",
                        "word order": {"triples per step": 64, "weight": WORD_ORDER_WEIGHT, "framed": args.framed},
                        "train_config": config.to_dict()},
        "evaluation": "scripts/train_shipped_model.suite, as the shipped record: build_tasks over Fashion-MNIST's "
                      "test split, 1,000 scenes a task, fashion-mnist on all 10,000 test images, plural-query "
                      "precision@10; converse over swap on 500 held-out test-split triples",
    }, started, args.threads)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
