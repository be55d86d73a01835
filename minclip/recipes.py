"""How the cpu preset trains on Fashion Scenes, as named recipes (the book's chapters 6 and 7).

A recipe is everything beyond TrainConfig that `python -m minclip.train --dataset fashion-scenes` decides: the
scene stream, a text stage before the pictures, and the word-order term beside CLIP's loss (minclip.word_order,
after Yuksekgonul et al. 2023's NegCLIP, which adds word-order negatives to CLIP's loss). Two are named:

- ``language-first``, the default and the recipe of the shipped ``fashion-scenes-cpu``: 300 steps of the text
  tower alone on converse triples, then 1,900 steps of both towers on the binding stream with varied shading and
  edges (SceneConfig.language_first), the word-order term at weight 1 on every second step. Relation binding
  81.2% to 82.8% over three seeds (data/language-first-every-2-1900*.json).
- ``plain``: CLIP's loss alone on the plain stream for one epoch (2,400 steps), the shipped recipe until
  2026-12-07. Binding at chance (51.1%): captions teach colour and category, not who is left of whom.

Every field is also a flag of minclip.train, which overrides the named recipe's value.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from minclip import scenes
from minclip.word_order import TRIPLE_COLOURS

WORD_ORDER_WEIGHT = 3.0  # the plain recipe's weight for --word-order N (data/word-order.json)
# --scenes: which Fashion Scenes stream trains (SceneConfig's presets)
SCENE_STREAMS = {"plain": scenes.SceneConfig, "binding": scenes.SceneConfig.binding,
                 "language-first": scenes.SceneConfig.language_first}


@dataclass(frozen=True)
class Recipe:
    """A Fashion Scenes recipe; each field is the minclip.train flag of the same name."""

    scenes: str = "plain"  # the SCENE_STREAMS preset
    text_steps: int = 0  # steps of the text tower alone on converse triples before CLIP's steps
    word_order: int = 0  # converse triples a step for the word-order term (0: CLIP's loss alone)
    word_order_weight: float = WORD_ORDER_WEIGHT
    word_order_every: int = 1  # the term on every K-th step only
    triple_colours: float = TRIPLE_COLOURS
    max_steps: int | None = None  # on the cpu schedule; None: its one epoch (2,400 steps of 128 scenes)

    def __post_init__(self):
        if self.scenes not in SCENE_STREAMS:
            raise ValueError(f"scenes: one of {', '.join(SCENE_STREAMS)}, not {self.scenes!r}")
        if min(self.text_steps, self.word_order) < 0 or self.word_order_every < 1 or self.word_order_weight <= 0:
            raise ValueError("text_steps and word_order: 0 or more; word_order_every: 1 or more; "
                             "word_order_weight: above 0")
        if not 0.0 <= self.triple_colours <= 1.0:
            raise ValueError(f"triple_colours: a fraction from 0 to 1, got {self.triple_colours}")
        if self.max_steps is not None and self.max_steps < 1:
            raise ValueError(f"max_steps: 1 or more (or None for one epoch), got {self.max_steps}")

    def to_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def flags(self, base: str = "language-first") -> list[str]:
        """The minclip.train flags that make this recipe: --recipe `base` and each field that differs from it."""
        start = RECIPES[base]
        given = [f"--{f.name.replace('_', '-')} {getattr(self, f.name)}" for f in fields(self)
                 if getattr(self, f.name) != getattr(start, f.name)]
        return ([] if base == DEFAULT_RECIPE else [f"--recipe {base}"]) + given


RECIPES = {
    "language-first": Recipe(scenes="language-first", text_steps=300, word_order=32, word_order_weight=1.0,
                             word_order_every=2, max_steps=1900),
    "plain": Recipe(),
}
DEFAULT_RECIPE = "language-first"
