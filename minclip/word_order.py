"""Word order from language alone: a text-side term that teaches the text encoder who is left of whom.

A contrastive model on (image, caption) pairs learns relation captions as bags of words (Yuksekgonul et al. 2023,
"When and why vision-language models behave like bags-of-words"), and chapter 7 shows why it stays there: while
text("a sneaker to the left of a bag") and text("a bag to the left of a sneaker") are nearly one vector, no image
embedding can prefer one, so the image side gets no reward for binding the two items to their places, and while
images do not bind, the text side gets none either (scripts/measure_binding.py, questions 3 and 4).

Language alone can break that circle. Two sentences say the same thing when one is the other's converse: "a red
sneaker to the left of a blue bag" and "a blue bag to the right of a red sneaker". Its swap, "a blue bag to the
left of a red sneaker", shares more words with the caption than the converse does and says the opposite: a bag of
words ranks it higher; only word order ranks the converse higher. `WordOrderStep` adds to each CLIP step an
InfoNCE term over such triples (each caption against the step's converses and swaps, its own converse the target),
as sentence encoders learn from paraphrases (SimCSE, Gao et al. 2021, uses entailment pairs and contradictions as
positives and hard negatives in the same way). The triples are sentences only, drawn from the train split's
categories and colours by the captions' own grammar (minclip.scene_text.describe_relation); no picture is involved.

Measured, mixed in from the start it is not enough (chapter 7; data/word-order.json against
data/word-order-control.json): trained from scratch beside the images, the text tower learns some word order
(converse over swap 33% -> 70%), binding stays at chance and position breaks. In order it works: the text tower
alone first (`teach_word_order`), then both towers with this term (scripts/measure_binding_recipe.py,
data/binding-recipe.json: binding 51% -> 88% from the plain model). That order, from scratch, is the shipped
language-first recipe (minclip.recipes, the default of `python -m minclip.train --dataset fashion-scenes`): 300
text steps, then 1,900 steps on the binding stream with this term at weight 1 on every second step; binding 82.8%,
Fashion-MNIST 86.4% (minclip/assets/models/fashion-scenes-cpu.json).
"""

from __future__ import annotations

import random

import torch
import torch.nn.functional as F

from minclip.scene_layout import SceneConfig, draw_scene
from minclip.scene_text import describe_relation, frame_caption, noun_phrase
from minclip.train import ContrastiveStep, TrainingDiverged
from minclip.zeroshot import encode_texts

# The text stage's learning rate: at 1e-3 the text tower of a new model learns word order within about 250 steps of
# 128 triples, from each seed tried; at 2e-3 whether it does within 600 hangs on the rounding of the arithmetic
# (data/text-stage.json)
TEXT_STAGE_LR = 1e-3
# How often a triple's noun phrase names its item's colour: as often as a caption's does (scene_text.noun_phrase)
TRIPLE_COLOURS = 0.7
TWO_ITEMS = SceneConfig(original=0.0, counts=(0.0, 1.0), noise=0.0, twins=0.0)  # two items, side by side or stacked


def converse_triples(labels, split: str, rng: random.Random, n: int, framed: float = 0.0,
                     colour_p: float = TRIPLE_COLOURS) -> list[tuple[str, str, str]]:
    """n (caption, converse, swap) triples about two-item scenes drawn from `labels` (the item pool's categories)
    of `split`: "a red sneaker to the left of a blue bag", the same relation told from the other item, with the
    same noun phrases in a wording of its own ("a blue bag to the right of a red sneaker"), and the caption with
    the two items swapped ("a blue bag to the left of a red sneaker"). Pairs whose swap reads as the caption (two
    sneakers, colours unsaid) are skipped. A fraction `framed` of triples is put in one training caption frame
    each ("new in: ... with a black background"), as captions and prompts come: word order in frames, to measure
    or to teach. Each noun phrase names its item's colour with probability `colour_p` (0: never, so that the
    sentences teach the order of items and no pairing of a colour with a category)."""
    triples = []
    while len(triples) < n:
        a, b = rng.sample(draw_scene(rng, labels, TWO_ITEMS, split)["items"], 2)
        phrases = (noun_phrase(a, rng, colour_p), noun_phrase(b, rng, colour_p))
        pair = describe_relation(a, b, rng, phrases)
        if pair is not None and pair[0] != pair[1]:
            triple = (pair[0], describe_relation(b, a, rng, phrases[::-1])[0], pair[1])
            if framed and rng.random() < framed:  # all three in one frame and background phrase
                background, state, framed_triple = rng.choice(("black", "white")), rng.getstate(), []
                for text in triple:
                    rng.setstate(state)  # the same draws for each: one frame, one background phrase
                    framed_triple.append(frame_caption(text, background, rng, False))
                triple = tuple(framed_triple)
            triples.append(triple)
    return triples


def word_order_loss(features: torch.Tensor, scale: float = 20.0) -> torch.Tensor:
    """InfoNCE of each caption against all N converses and N swaps, its own converse the target, on the text
    embeddings of N triples in order (caption, converse, swap, caption, ...) (3N, D), unit-normalised here, at a
    fixed `scale` (inverse temperature)."""
    e = F.normalize(features.float(), dim=-1).view(-1, 3, features.shape[-1])  # (N, 3, D)
    logits = scale * e[:, 0] @ torch.cat([e[:, 1], e[:, 2]]).t()  # (N, 2N): converses, then swaps
    return F.cross_entropy(logits, torch.arange(len(e), device=logits.device))


@torch.no_grad()
def converse_over_swap(model, triples: list[tuple[str, str, str]]) -> float:
    """How often a caption's embedding is nearer its converse than its swap (chance 50%; a bag of words: less)."""
    e = encode_texts(model, [t for triple in triples for t in triple]).view(len(triples), 3, -1)  # (N, 3, D)
    return ((e[:, 0] * e[:, 1]).sum(-1) > (e[:, 0] * e[:, 2]).sum(-1)).float().mean().item()


class WordOrderStep(ContrastiveStep):
    """CLIP's step plus `weight` times word_order_loss over `triples` fresh converse triples a step, drawn from
    the training set's item pool (`dataset.labels`, `dataset.split`); with `every` k > 1, on every k-th step only
    (steps 0, k, 2k, ...: the others are CLIP's step alone, and cost what it costs). The triples of step s are a
    pure function of (seed, s), so a resumed run draws the same ones (train() calls set_step before each step)."""

    def __init__(self, model, dataset, triples: int = 32, weight: float = 1.0, seed: int = 0, framed: float = 0.0,
                 colour_p: float = TRIPLE_COLOURS, every: int = 1):
        super().__init__(model)
        if triples < 1 or weight <= 0 or every < 1:
            raise ValueError(f"word order: triples >= 1, weight > 0 and every >= 1, got {triples}, {weight} and "
                             f"{every}")
        if not (0.0 <= framed <= 1.0 and 0.0 <= colour_p <= 1.0):
            raise ValueError(f"word order: framed and colour_p are fractions, in [0, 1], got {framed} and {colour_p}")
        self.labels, self.split = dataset.labels, dataset.split
        self.triples, self.weight, self.seed, self.step, self.framed = triples, weight, seed, 0, framed
        self.colour_p, self.every = colour_p, every
        self.last = torch.tensor(float("nan"))

    def set_step(self, step: int) -> None:
        self.step = step

    def extra_texts(self) -> list[str]:
        if self.step % self.every:
            return []
        rng = random.Random(self.seed * 1_000_003 + self.step)
        triples = converse_triples(self.labels, self.split, rng, self.triples, self.framed, self.colour_p)
        return [t for triple in triples for t in triple]

    def settings(self) -> dict:
        return {"word_order": {"triples": self.triples, "weight": self.weight, "framed": self.framed,
                               "seed": self.seed,
                               # recorded where not the default, so that older checkpoints still resume
                               **({"colour_p": self.colour_p} if self.colour_p != TRIPLE_COLOURS else {}),
                               **({"every": self.every} if self.every != 1 else {})}}

    def extra_loss(self, text_features: torch.Tensor) -> torch.Tensor:
        order = word_order_loss(text_features)
        self.last = order.detach()
        return self.weight * order

    def stats(self) -> dict:
        return {**super().stats(), "word_order_loss": self.last.item()}


def teach_word_order(model, dataset, steps: int, triples: int = 128, lr: float = TEXT_STAGE_LR, seed: int = 0,
                     amp: bool = False, progress: bool = False, colour_p: float = TRIPLE_COLOURS) -> float:
    """Train the text tower alone (not the image tower, not the temperature) for `steps` batches of `triples`
    converse triples about `dataset`'s item pool (word_order_loss; noun phrases name colours with probability
    `colour_p`), AdamW at a constant `lr`, under bf16 autocast with `amp`, on the device the model is on. The
    triples of a run are a pure function of `seed`. Returns the last batch's loss; a NaN or infinite loss raises
    TrainingDiverged (the weights then are not to be used)."""
    if steps < 0 or triples < 1 or lr <= 0:
        raise ValueError(f"word order: steps >= 0, triples >= 1 and lr > 0, got {steps}, {triples} and {lr}")
    rng = random.Random(seed)
    params = [p for name, p in model.named_parameters() if not name.startswith("visual.") and name != "logit_scale"]
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=0.1, foreach=True)  # as minclip.train's
    device = next(model.parameters()).device
    model.train()
    loss = torch.tensor(float("nan"))
    for step in range(steps):
        batch = converse_triples(dataset.labels, dataset.split, rng, triples, colour_p=colour_p)
        tokens = model.tokenize([t for triple in batch for t in triple], truncate=True).to(device)  # (3N, T)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            loss = word_order_loss(model.encode_text(tokens))
        if not torch.isfinite(loss):
            raise TrainingDiverged(f"the word-order loss is {loss.item()} at step {step + 1} of the text stage; "
                                   "try a lower learning rate")
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if progress and (step + 1) % 50 == 0:
            print(f"word order, text tower alone: step {step + 1}/{steps}, loss {loss.item():.3f}", flush=True)
    model.eval()
    return loss.item()
