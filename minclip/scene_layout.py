"""What a Fashion Scenes scene shows, as plain data: the settings of the stream, and the drawing of scenes and
their twins (minclip.scenes turns them into pixels and a data set; minclip.scene_text into captions).

A scene is {"items": [{category, source, colour, size, centre, extent}], "background", "original"}: one to four
Fashion-MNIST items (source: an index into the item pool) with a colour (one of the 11 basic colour terms), a
size and a centre ((x, y) in [0, 1], y down) on a background colour, or one grey item in the data set's own look.
A twin is a second scene that differs from its first in one thing (``TWIN_KINDS``): its mirror image (relation:
two items; position: one item at a side) or its item in another colour on the same background (colour). Twins
are NegCLIP's hard negatives drawn as pictures (Yuksekgonul et al. 2023, "When and why vision-language models
behave like bags-of-words").
"""

from __future__ import annotations

import functools
import random
from dataclasses import dataclass, field, replace

import numpy as np

from minclip import scene_text
from minclip.scene_text import COLOURS

# (colour, category) pairs never drawn in the train split: each colour and each category still appears there
HELDOUT_COMBOS = (("red", 5), ("blue", 8), ("yellow", 3), ("green", 4), ("pink", 7), ("purple", 1))
_SIZES = {"small": (0.28, 0.36), "large": (0.46, 0.56)}  # side of an item's square, as a fraction of the canvas
TWIN_KINDS = ("relation", "position", "colour")
SINGLE_CENTRES = {"left": (0.29, 0.5), "right": (0.71, 0.5), "top": (0.5, 0.29), "bottom": (0.5, 0.71),
                   "middle": (0.5, 0.5)}


@dataclass
class SceneConfig:
    """What scenes the stream draws. Fractions are probabilities per scene; counts[k] weighs k + 1 items."""

    resolution: int = 64  # the scenes model's input (minclip.train_cli.SCENES_RESOLUTION)
    original: float = 0.4  # scenes in the data set's look: one grey item, centred, on black
    counts: tuple[float, ...] = (0.5, 0.3, 0.12, 0.08)  # one, two, three, four items
    colours: tuple[str, ...] = tuple(COLOURS)
    heldout_combos: tuple[tuple[str, int], ...] = HELDOUT_COMBOS
    noise: float = 0.03  # captions that belong to another scene
    twins: float = 0.3  # scene pairs (2k, 2k + 1) that differ in one thing only (hard negatives for each other)
    twin_kinds: dict[str, float] = field(default_factory=lambda: {"relation": 0.2, "position": 0.4,
                                                                  "colour": 0.4})
    hard_negatives: bool = False  # items carry each relation caption's swap, an extra negative (NegCLIP)
    heldout_categories: tuple[int, ...] = ()  # labels never drawn in the train split: no image, no caption
    # how an item is drawn (minclip.scenes.render), each drawn per item from its range: the shading strength s of
    # its colour (colour x (1 - s + s g / max g)) and the steepness k of its mask (alpha = min(1, k g)). The
    # defaults draw nothing and keep the stream as it was; wider ranges also show items drawn other ways, as a
    # user's own picture may be (more shading, softer edges)
    shading: tuple[float, float] = (0.2, 0.2)
    edge: tuple[float, float] = (10.0, 10.0)
    backgrounds: dict[str, float] = field(default_factory=lambda: {"black": 0.35, "white": 0.35, "grey": 0.1,
                                                                    "blue": 0.05, "yellow": 0.05, "pink": 0.05,
                                                                    "green": 0.05})

    @classmethod
    def binding(cls, **overrides) -> SceneConfig:
        """The stream of the first language-first runs (`python -m minclip.train --scenes binding`, chapter 7): half of
        the scene pairs twins, half of those relation twins, and each relation caption with its swap as an extra
        negative (NegCLIP), so that a caption's word order is what tells its image from its twin's. Of the other
        scenes 70% have the data set's look, not 40%: with 40% this recipe reached Fashion-MNIST 81.5% against the
        plain stream's 85.6%, with 70% 86.7% (data/language-first.json, its earlier_runs)."""
        return cls(**{"twins": 0.5, "twin_kinds": {"relation": 0.5, "position": 0.25, "colour": 0.25},
                      "hard_negatives": True, "original": 0.7, **overrides})

    @classmethod
    def language_first(cls, **overrides) -> SceneConfig:
        """The shipped model's stream (minclip.recipes, `--scenes language-first`): the binding stream with each
        item's shading strength drawn from 0.15 to 0.55 and its edge sharpness from 3 to 10, so that the items of
        a user's own picture (more shading, softer edges) look like training items. On the earlier recipe it kept
        binding (83.9% against 84.0%) and raised the held-out pairs from 25.9% to 36.0%
        (data/language-first-varied.json against data/language-first-short.json)."""
        return cls.binding(**{"shading": (0.15, 0.55), "edge": (3.0, 10.0), **overrides})

    def __post_init__(self):
        self.counts = tuple(float(c) for c in self.counts)
        if not self.counts or len(self.counts) > 4 or any(c < 0 for c in self.counts) or sum(self.counts) <= 0:
            raise ValueError(f"counts: weights for one to four items, at least one positive, got {self.counts}")
        unknown = [c for c in (*self.colours, *self.backgrounds) if c not in COLOURS]
        if unknown:
            raise ValueError(f"colours and backgrounds: unknown colour {unknown[0]!r}; known: {', '.join(COLOURS)}")
        if not self.colours:
            raise ValueError("colours: at least one colour is needed")
        if set(self.twin_kinds) - set(TWIN_KINDS) or any(w < 0 for w in self.twin_kinds.values()) or \
                sum(self.twin_kinds.values()) <= 0:
            raise ValueError(f"twin_kinds: weights for {', '.join(TWIN_KINDS)}, at least one positive, got "
                             f"{self.twin_kinds}")
        self.shading, self.edge = tuple(float(v) for v in self.shading), tuple(float(v) for v in self.edge)
        if len(self.shading) != 2 or not 0.0 <= self.shading[0] <= self.shading[1] <= 1.0:
            raise ValueError(f"shading: a range (low, high) with 0 <= low <= high <= 1, got {self.shading}")
        if len(self.edge) != 2 or not 1.0 <= self.edge[0] <= self.edge[1]:
            raise ValueError(f"edge: a range (low, high) with 1 <= low <= high, got {self.edge}")
        for name in ("original", "noise", "twins"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"{name}: a fraction in [0, 1), got {getattr(self, name)}")
        if self.twins and self.twin_kinds.get("colour") and not any(
                sum(_contrast(c, g) > 120 for c in self.colours) >= 2 for g in self.backgrounds):
            raise ValueError("twin_kinds: colour twins need a background that two item colours stand out from; "
                             "add colours or backgrounds, or set twin_kinds['colour'] = 0")
        for colour, category in self.heldout_combos:
            if colour not in COLOURS or not 0 <= category < 10:
                raise ValueError(f"heldout_combos: ({colour!r}, {category}) is not a (colour, category 0-9) pair")
        self.heldout_categories = tuple(int(k) for k in self.heldout_categories)
        if any(not 0 <= k < 10 for k in self.heldout_categories) or len(set(self.heldout_categories)) >= 10:
            raise ValueError(f"heldout_categories: Fashion-MNIST labels 0-9, not all ten, got "
                             f"{self.heldout_categories}")
        if self.resolution < 32:
            raise ValueError(f"resolution: at least 32 pixels, got {self.resolution}")


@functools.cache
def _contrast(a: str, b: str) -> float:
    """The distance of two colours in RGB (0-255 per channel): above 120, one stands out from the other."""
    return float(np.linalg.norm(np.subtract(COLOURS[a], COLOURS[b])))


# ----------------------------------------------------------------------------------------------------------
# layout: what a scene shows, as plain data


def draw_scene(rng: random.Random, labels: np.ndarray, config: SceneConfig, split: str = "train") -> dict:
    """A scene's content: {"items": [{category, source, colour, size, centre, extent}], "background",
    "original"}. `labels` are the pool's labels (source = an index into the pool)."""
    if rng.random() < config.original:
        source = rng.randrange(len(labels))
        item = {"category": int(labels[source]), "source": source, "colour": None, "size": "large",
                "centre": (0.5, 0.5), "extent": 1.0}
        return {"items": [item], "background": "black", "original": True}
    n = rng.choices(range(1, len(config.counts) + 1), weights=config.counts)[0]
    if n == 1:
        size = rng.choice(("small", "large"))
        centres = [SINGLE_CENTRES[rng.choice(scene_text.POSITIONS)]]
        sizes = [size]
    elif n == 2:  # side by side or one above the other
        a, b = ((0.27, 0.5), (0.73, 0.5)) if rng.random() < 0.6 else ((0.5, 0.27), (0.5, 0.73))
        offset = rng.uniform(-0.12, 0.12)
        centres = [(a[0], a[1] + offset), (b[0], b[1] + offset)] if a[1] == 0.5 else \
                  [(a[0] + offset, a[1]), (b[0] + offset, b[1])]
        sizes = [rng.choice(("small", "large")) for _ in range(2)]
    else:  # three or four small items in the cells of a 2 x 2 grid
        cells = rng.sample([(0.27, 0.27), (0.73, 0.27), (0.27, 0.73), (0.73, 0.73)], n)
        centres, sizes = cells, ["small"] * n
    held = {(c, k) for c, k in config.heldout_combos} if split == "train" else set()
    items = []
    for centre, size in zip(centres, sizes):
        while True:  # rejection: held-out pairs are never drawn in training
            source = rng.randrange(len(labels))
            colour = rng.choice(config.colours)
            if (colour, int(labels[source])) not in held:
                break
        jitter = 0.03
        items.append({"category": int(labels[source]), "source": source, "colour": colour, "size": size,
                      "centre": (centre[0] + rng.uniform(-jitter, jitter), centre[1] + rng.uniform(-jitter, jitter)),
                      "extent": rng.uniform(*_SIZES[size])})
    names, weights = zip(*config.backgrounds.items())
    for _ in range(20):  # a background every item stands out from
        background = rng.choices(names, weights=weights)[0]
        if all(_contrast(background, item["colour"]) > 120 for item in items):
            break
    else:
        background = "black" if all(_contrast("black", i["colour"]) > 120 for i in items) else "white"
    if config.shading[0] < config.shading[1] or config.edge[0] < config.edge[1]:  # drawn last: the rest as before
        for item in items:
            item["shading"], item["edge"] = rng.uniform(*config.shading), rng.uniform(*config.edge)
    return {"items": items, "background": background, "original": False}


def mirror(scene: dict) -> dict:
    """The scene flipped along the axis its first two items are laid out on (left-right or top-bottom), so
    every relation between them reverses; a single item flips along the axis it is off-centre on (left <-> right
    or top <-> bottom). Items keep their look."""
    items = scene["items"]
    a, b = (items[0]["centre"], items[1]["centre"]) if len(items) > 1 else (items[0]["centre"], (0.5, 0.5))
    horizontal = abs(a[0] - b[0]) >= abs(a[1] - b[1])
    flipped = [{**it, "centre": (1 - it["centre"][0], it["centre"][1]) if horizontal else
                (it["centre"][0], 1 - it["centre"][1])} for it in items]
    return {**scene, "items": flipped}


def twin(scene: dict, kind: str, rng: random.Random, config: SceneConfig, split: str = "train") -> dict:
    """A scene's twin of a kind: its mirror image (relation, position), or its item in another colour that stands
    out from the same background, drawn with `rng` (colour; never a held-out colour x category pair)."""
    if kind != "colour":
        return mirror(scene)
    item = scene["items"][0]
    options = _other_colours(item, scene["background"], config, split)
    return {**scene, "items": [{**item, "colour": rng.choice(options)}]}


def _other_colours(item: dict, background: str, config: SceneConfig, split: str) -> list[str]:
    held = set(config.heldout_combos) if split == "train" else set()
    return [c for c in config.colours if c != item["colour"] and _contrast(c, background) > 120
            and (c, item["category"]) not in held]


def draw_twin_base(rng: random.Random, labels: np.ndarray, config: SceneConfig, kind: str, split: str) -> dict:
    """The first scene of a twin pair: two items (relation), one item at a side (position), or one item on a
    background that another colour of it would stand out from too (colour)."""
    if kind == "relation":
        return draw_scene(rng, labels, replace(config, original=0.0, counts=(0.0, 1.0)), split)
    single = replace(config, original=0.0, counts=(1.0,))
    if kind == "position":
        scene = draw_scene(rng, labels, single, split)
        cx, cy = SINGLE_CENTRES[rng.choice(("left", "right", "top", "bottom"))]
        scene["items"][0]["centre"] = (cx + rng.uniform(-0.03, 0.03), cy + rng.uniform(-0.03, 0.03))
        return scene
    while True:  # (SceneConfig checks that some colour and background allow a second colour)
        scene = draw_scene(rng, labels, single, split)
        grounds = [g for g in config.backgrounds if _contrast(g, scene["items"][0]["colour"]) > 120
                   and _other_colours(scene["items"][0], g, config, split)]
        if grounds:
            scene["background"] = rng.choice(grounds)
            return scene
