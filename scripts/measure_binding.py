"""Why relation binding stays at chance: the image encoder's capacity, or what the objective asks of it?

The scenes model cannot tell "a sneaker to the left of a bag" from "a bag to the left of a sneaker" (chapter 7),
as web-trained CLIPs cannot (Yuksekgonul et al. 2023). Three measurements on two-item scenes as training draws
them (minclip.scene_layout.draw_scene), of two different categories side by side or one above the other, as in
the binding task:

1. read-out: a linear probe (minclip.probe) on the plain model's frozen image embeddings, fitted on scenes of
   Fashion-MNIST train items to name the *first* item (the left or top one) and scored on scenes of test items
   between the scene's two categories (chance 50%): does the embedding say which item is where?
2. capacity: the same image encoder, freshly initialised, trained for a few hundred steps to name the first item
   (minclip.baseline: cross-entropy on a label no caption gives): can this architecture bind at all?
3. objective: the plain model trained further on a stream where 95% of scene pairs are relation twins (a scene
   and its mirror image, captioned in the same words with the two items swapped; minclip.scenes), the hardest
   negatives on every pair: does binding appear when every batch asks for it? Scored after each round on test
   twins (the own caption against the swapped one, chance 50%) and on the suite's binding and position tasks.
4. text side: for each category X, the direction text("X on the left") - text("X on the right") of the plain
   text encoder (the suite's frames ensembled). If it is the same for every X, the text side adds "left" to an
   item instead of binding it: no picture can then score "a sneaker on the left" over "... on the right" and
   "a bag on the right" over "... on the left" at once, so the image side alone has nothing to learn binding
   from, and the other way round.
5. text first: the plain model's text tower alone trained to rank a relation caption's converse ("a red
   sneaker to the left of a blue bag" / "a blue bag to the right of a red sneaker") above its swap ("a blue bag to
   the left of a red sneaker"), which a bag of words ranks higher, from language alone; then the image tower,
   the text frozen, on the relation-twin stream of 3. Does binding follow once one side reads word order?

    .venv/bin/python scripts/measure_binding.py        # data/binding.json, about 15 minutes on two cores

"The plain model" is the plain recipe's (CLIP's loss alone, `python -m minclip.train --dataset fashion-scenes
--recipe plain`), which minclip shipped as fashion-scenes-cpu until the language-first recipe replaced it; --model
names its weights (default runs/plain-recipe/model.safetensors, which `python scripts/train_shipped_model.py
--recipe plain --record data/plain-recipe.json` writes).

It needs Fashion-MNIST (`make data`).
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch
import torch.nn.functional as F

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from minclip import load  # noqa: E402
from minclip.baseline import SupervisedBaseline, train_supervised  # noqa: E402
from minclip.datasets import normalize  # noqa: E402
from minclip.probe import train_linear_probe  # noqa: E402
from minclip.scene_text import EVAL_FRAMES  # noqa: E402
from minclip.scenes import FashionScenes, SceneConfig, draw_scene, render  # noqa: E402
from minclip.tasks import ITEM_CLASSES, evaluate_suite, text_features  # noqa: E402
from minclip.train import TrainConfig, train  # noqa: E402
from minclip.word_order import TWO_ITEMS, converse_over_swap, converse_triples, teach_word_order  # noqa: E402
from minclip.zeroshot import encode_images, encode_texts  # noqa: E402
from scripts.records import PLAIN_MODEL, finish_record, plain_model, test_split_suite  # noqa: E402

TWINS = SceneConfig(twins=0.95, twin_kinds={"relation": 1.0})  # relation twins on 95% of scene pairs


class FirstItem(torch.utils.data.Dataset):
    """Two-item scenes of two different categories: (image, "", the first item's category), the first being the
    left or top one (drawn() gives all of them with both items' categories). Deterministic per (seed, index).
    `items`: a FashionScenes of the split, for its item pool and labels."""

    def __init__(self, items: FashionScenes, n: int, seed: int):
        self.scenes, self.n, self.seed, self.split = items, n, seed, items.split

    def __len__(self) -> int:
        return self.n

    def scene(self, i: int) -> dict:
        rng = random.Random(self.seed * 1_000_003 + i)
        while True:
            scene = draw_scene(rng, self.scenes.labels, TWO_ITEMS, self.split)
            if scene["items"][0]["category"] != scene["items"][1]["category"]:
                return scene

    def pixels(self, scene: dict) -> torch.Tensor:
        return normalize(render(scene, self.scenes.pool, TWO_ITEMS.resolution))  # (3, R, R)

    def __getitem__(self, i: int) -> tuple:
        scene = self.scene(i)
        return self.pixels(scene), "", scene["items"][0]["category"]

    def drawn(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Every scene at once: images (n, 3, R, R) and the first and the other item's categories, each (n,)."""
        scenes = [self.scene(i) for i in range(self.n)]
        first, other = (torch.tensor([s["items"][k]["category"] for s in scenes]) for k in (0, 1))
        return torch.stack([self.pixels(s) for s in scenes]), first, other


def first_of_two(logits: torch.Tensor, first: torch.Tensor, other: torch.Tensor) -> float:
    """How often the first item's category scores above the other item's: binding read out, chance 0.5."""
    rows = torch.arange(len(first))
    return (logits[rows, first] > logits[rows, other]).float().mean().item()


def side_directions(model) -> dict:
    """How alike the ten categories' left-minus-right text directions are: mean and least pairwise cosine of
    normalised text("X on the left") - text("X on the right"); 1.0 means "left" is added to any item alike."""
    was_training = model.training
    model.eval()
    left, right = (text_features(model, [f"{c} on the {side}" for c in ITEM_CLASSES], EVAL_FRAMES)
                   for side in ("left", "right"))
    model.train(was_training)
    d = F.normalize(left - right, dim=-1)  # (10, D)
    cos = (d @ d.t())[~torch.eye(len(d), dtype=torch.bool)]
    return {"mean cosine": round(cos.mean().item(), 4), "least cosine": round(cos.min().item(), 4)}


@torch.no_grad()
def twin_accuracy(model, twins: list[tuple]) -> float:
    """Over test twin pairs (scene 2k and its mirror 2k + 1, captions swapped): how often an image's own caption
    scores above its twin's."""
    was_training = model.training
    model.eval()
    features = encode_images(model, torch.stack([t[0] for t in twins]))  # (N, D)
    text = encode_texts(model, [t[1] for t in twins])  # (N, D)
    scores = features @ text.t()  # (N, N)
    model.train(was_training)
    rows = torch.arange(len(twins))
    return (scores[rows, rows] > scores[rows, rows ^ 1]).float().mean().item()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(REPO / "data" / "binding.json"))
    parser.add_argument("--supervised-steps", type=int, default=400)
    parser.add_argument("--twin-steps", type=int, default=200, help="steps of each of three rounds of twins")
    parser.add_argument("--text-steps", type=int, default=1200, help="steps of the text tower alone (question 5)")
    parser.add_argument("--text-lr", type=float, default=2e-3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--model", default=str(PLAIN_MODEL), help="the plain recipe's weights (default: %(default)s)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    started = time.perf_counter()

    model, _ = load(plain_model(args.model), device="cpu")
    train_items, test_items = (FashionScenes(split, n=1, config=TWO_ITEMS) for split in ("train", "test"))
    probe_set, test_set = FirstItem(train_items, 3000, seed=1), FirstItem(test_items, 1000, seed=2)
    probe_pixels, probe_first, _ = probe_set.drawn()
    test_pixels, first, other = test_set.drawn()
    probe = train_linear_probe(encode_images(model, probe_pixels), probe_first, 10)
    readout = first_of_two(probe(encode_images(model, test_pixels)), first, other)
    print(f"read-out from the plain embeddings: first of two {readout:.1%}", flush=True)

    text_side = side_directions(model)
    print(f"left-minus-right text directions of the ten categories: {text_side}", flush=True)

    torch.manual_seed(0)
    supervised = SupervisedBaseline(model.config, 10)
    schedule = TrainConfig.cpu(max_steps=args.supervised_steps, warmup_steps=20, cpu_amp=True, device="cpu")
    train_supervised(supervised, FirstItem(train_items, 128 * args.supervised_steps, seed=3), schedule, progress=False)
    with torch.no_grad():
        capacity = first_of_two(supervised.eval()(test_pixels), first, other)
    print(f"the same encoder trained to name the first item: first of two {capacity:.1%}", flush=True)

    tasks = [t for t in test_split_suite(300, 10) if t.name in ("binding", "position", "colour")]
    test_twins = FashionScenes("test", n=600, config=replace(TWINS, twins=0.99, noise=0.0), seed=5)
    twins = [test_twins[i] for i in range(600) if test_twins.twin_kind(i // 2) == "relation"]
    twins = twins[:len(twins) // 2 * 2]

    def scores(m) -> dict:
        tops = {r["task"]: round(r["top1"], 4) for r in evaluate_suite(m, tasks)}
        row = {"twins": round(twin_accuracy(m, twins), 4), "binding": tops["binding"], "position": tops["position"],
               "colour": tops["colour"]}
        print(row, flush=True)
        return row

    rounds = [{"step": 0, **scores(model)}]
    stream = FashionScenes("train", n=128 * args.twin_steps, config=TWINS, seed=1)
    config = TrainConfig.cpu(epochs=3, lr=1e-3, warmup_steps=20, cpu_amp=True, device="cpu")
    history = train(model, stream, config, None, progress=False, evaluate=scores)  # scores after each epoch
    rounds += [{"step": h["step"], **{key: h[key] for key in rounds[0] if key != "step"}} for h in history]

    model, _ = load(plain_model(args.model), device="cpu")  # 5. text first, from the plain model again
    held_out = converse_triples(test_items.labels, "test", random.Random(7), 500)
    order = {"before": round(converse_over_swap(model, held_out), 4)}
    teach_word_order(model, train_items, args.text_steps, lr=args.text_lr)
    order["after"] = round(converse_over_swap(model, held_out), 4)
    side_after = side_directions(model)
    print(f"text tower alone, {args.text_steps} steps: converse over swap {order}, {side_after}", flush=True)
    for name, p in model.named_parameters():
        if not name.startswith("visual."):
            p.requires_grad_(False)
    text_first = [{"step": 0, **scores(model)}]
    history = train(model, FashionScenes("train", n=128 * args.twin_steps, config=TWINS, seed=1), config, None,
                    progress=False, evaluate=scores)
    text_first += [{"step": h["step"], **{key: h[key] for key in rounds[0] if key != "step"}} for h in history]

    finish_record(args.out, "measure_binding.py", {
        "layout": "two items of different categories, side by side or one above the other "
                  "(SceneConfig(original=0, counts=(0, 1)))",
        "readout": {"first of two": round(readout, 4), "probe images": len(probe_set), "test images": len(test_set),
                    "what": "linear probe on the plain model's image embeddings, naming the first item"},
        "capacity": {"first of two": round(capacity, 4), "steps": args.supervised_steps, "batch": 128,
                     "what": "the same image encoder from scratch, cross-entropy on the first item's category"},
        "text side": {**text_side, "what": "pairwise cosines of the ten categories' unit directions "
                      "text('X on the left') - text('X on the right'), the plain text encoder, EVAL_FRAMES "
                      "ensembled"},
        "twins": {"rounds": rounds, "test twin pairs": len(twins) // 2, "train_config": config.to_dict(),
                  "what": "the plain model trained on, 95% of scene pairs relation twins; twins: own caption "
                          "over the swapped one on test twins; binding and position: the suite's tasks, 300 "
                          "scenes each"},
        "text first": {"text steps": args.text_steps, "text lr": args.text_lr, "batch": 128,
                       "converse over swap": order, "held-out triples": len(held_out), "text side after": side_after,
                       "rounds": text_first,
                       "what": "the plain model's text tower alone trained to rank a relation caption's converse "
                               "above its swap (InfoNCE over 128 captions' converses and swaps, scale 20, AdamW); "
                               "then its image tower, the text frozen, on the relation-twin stream of 'twins', "
                               "scored as there"},
    }, started, args.threads)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
