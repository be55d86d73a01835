"""Fashion Scenes: a seeded, endless stream of captioned scenes built from Fashion-MNIST's clothing images.

A scene puts one to four Fashion-MNIST items on a plain canvas, each with a category, a colour (one of the 11
basic colour terms, applied to the item's grey levels), a size and a position, on a background colour; some
scenes keep the data set's own look (one grey item, centred, on black). Each comes with a caption written by
minclip.scene_text, which mentions some of what is there in varied English. It is a small, clean stand-in for
the web's (image, alt-text) pairs that CLIP trained on (Radford et al. 2021, section 2.2), where labels make
only a label classifier: the model must learn colour, count, position and relation words from captions alone,
and is then tested zero-shot on tasks it never trained for (minclip.tasks).

Scene i of a split is a pure function of (seed, split, epoch, i): any process and any DataLoader worker draws the
same scene, nothing is stored, and a new epoch brings new scenes. The train split draws items from Fashion-MNIST's
training images only; the test split from its test images. Held out of the train split: the colour x category
pairs in ``HELDOUT_COMBOS`` (never drawn, so never in an image or a caption) and the caption frames in
``scene_text.EVAL_FRAMES``. Two options shape training: ``noise`` (a fraction of pairs whose caption belongs to
another scene, as on the web) and ``twins`` (a fraction of scene pairs (2k, 2k+1) that differ in one thing only,
captioned in the same words but that thing, and kept in one batch by ``epoch_order``). Twins are hard negatives,
as NegCLIP adds hard negative captions (Yuksekgonul et al. 2023, "When and why vision-language models behave like
bags-of-words"): without them a caption's position or relation words seldom decide which of a batch's images it
belongs to, and a contrastive model learns to ignore them. Three kinds (``twin_kinds``): relation (two items and
their mirror image, the items swapped in the caption), position (one item and its mirror image: "on the left" /
"on the right") and colour (one item in two colours on the same background: "a white coat" / "a grey coat").

scripts/measure_scenes.py measures the stream: distinct captions, vocabulary, pairs per second, a gallery.
"""

from __future__ import annotations

import functools
import random
from dataclasses import dataclass, field, replace

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from minclip import scene_text
from minclip.data import load_fashion_mnist
from minclip.datasets import grey_to_rgb, load_sample, normalize
from minclip.scene_text import COLOURS

# (colour, category) pairs never drawn in the train split: each colour and each category still appears there
HELDOUT_COMBOS = (("red", 5), ("blue", 8), ("yellow", 3), ("green", 4), ("pink", 7), ("purple", 1))
_SPLITS = {"train": 0, "test": 1}
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
    backgrounds: dict[str, float] = field(default_factory=lambda: {"black": 0.35, "white": 0.35, "grey": 0.1,
                                                                    "blue": 0.05, "yellow": 0.05, "pink": 0.05,
                                                                    "green": 0.05})

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


# ----------------------------------------------------------------------------------------------------------
# pixels


def render(scene: dict, pool: torch.Tensor, resolution: int) -> torch.Tensor:
    """A scene as an RGB float image (3, R, R) in [0, 1]. `pool`: the item images, uint8 (N, 28, 28).

    An item is its 28x28 grey image resized bicubically to its side; its grey levels g make the mask
    (alpha = min(1, 10 g): Fashion-MNIST's background is 0) and the shading of its colour (colour x (0.8 + 0.2 g /
    max g)), so a red coat keeps its folds and a white one still looks white, not grey. The data set's look is the
    grey image itself, upsampled to the canvas exactly as minclip.datasets.to_model_input does for Fashion-MNIST.
    """
    if scene["original"]:
        return grey_to_rgb(pool[scene["items"][0]["source"]], resolution)
    background = torch.tensor(COLOURS[scene["background"]], dtype=torch.float32) / 255
    canvas = background.view(3, 1, 1).repeat(1, resolution, resolution)  # (3, R, R)
    for item in scene["items"]:
        side = max(4, round(item["extent"] * resolution))
        g = pool[item["source"]].to(torch.float32).div(255)[None, None]  # (1, 1, 28, 28)
        g = F.interpolate(g, size=(side, side), mode="bicubic", align_corners=False).clamp(0, 1)[0, 0]  # (s, s)
        alpha = (g * 10).clamp(max=1.0)
        colour = torch.tensor(COLOURS[item["colour"]], dtype=torch.float32).view(3, 1, 1) / 255
        rgb = colour * (0.8 + 0.2 * g / g.max().clamp(min=1e-6))  # (3, s, s)
        x0 = round(item["centre"][0] * resolution - side / 2)
        y0 = round(item["centre"][1] * resolution - side / 2)
        cx0, cy0 = max(x0, 0), max(y0, 0)  # the part of the item inside the canvas
        cx1, cy1 = min(x0 + side, resolution), min(y0 + side, resolution)
        if cx1 <= cx0 or cy1 <= cy0:
            continue
        a = alpha[cy0 - y0:cy1 - y0, cx0 - x0:cx1 - x0]
        region = canvas[:, cy0:cy1, cx0:cx1]
        canvas[:, cy0:cy1, cx0:cx1] = a * rgb[:, cy0 - y0:cy1 - y0, cx0 - x0:cx1 - x0] + (1 - a) * region
    return canvas


# ----------------------------------------------------------------------------------------------------------
# the data set


def _key(seed: int, split: int, epoch: int, i: int, salt: int = 0) -> int:
    """One integer per (seed, split, epoch, index, salt), in separate bit fields: no two tuples share a seed."""
    return (seed << 104) | (salt << 96) | (split << 88) | (epoch << 48) | i


class FashionScenes(Dataset):
    """n scenes per epoch as (image (3, R, R) normalised, caption, label); label: the category of a one-item
    scene, -1 for several items. FashionScenes.sample() draws from the committed 1,000 test images (no download).

    Deterministic: the same (seed, split, epoch, index) gives the same scene and caption in every process.
    """

    def __init__(self, split: str = "train", n: int = 60_000, config: SceneConfig | None = None, seed: int = 0,
                 root=None, images=None, labels=None):
        if split not in _SPLITS:
            raise ValueError(f"split: 'train' or 'test', got {split!r}")
        if n < 1:
            raise ValueError(f"n: the number of scenes per epoch must be at least 1, got {n}")
        if (images is None) != (labels is None):
            raise ValueError("pass both images and labels (the item pool), or neither (the split is loaded)")
        if images is None:
            images, labels = load_fashion_mnist(split, root)
        self.pool = torch.as_tensor(np.asarray(images), dtype=torch.uint8)  # (N, 28, 28)
        self.labels = np.asarray(labels, dtype=np.int64)
        if self.pool.ndim != 3 or len(self.pool) != len(self.labels) or len(self.labels) == 0:
            raise ValueError(f"the item pool must be images (N, 28, 28) with N labels, N > 0; got "
                             f"{tuple(self.pool.shape)} and {self.labels.shape}")
        self.split, self.n, self.seed, self.epoch = split, int(n), int(seed), 0
        self.config = config if config is not None else SceneConfig()

    @classmethod
    def sample(cls, split: str = "test", n: int = 1000, config: SceneConfig | None = None, seed: int = 0):
        """Scenes drawn from the committed Fashion-MNIST test sample (minclip.datasets.load_sample)."""
        images, labels = load_sample()
        return cls(split, n=n, config=config, seed=seed, images=images, labels=labels)

    def set_epoch(self, epoch: int) -> None:
        """New scenes each epoch (call in every process, as for FashionMNISTPairs)."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.n

    def _check(self, i: int) -> int:
        i = int(i)
        if not -self.n <= i < self.n:
            raise IndexError(f"index {i} out of range for {self.n} scenes")
        return i % self.n

    def twin_kind(self, k: int) -> str | None:
        """The kind of twins scenes (2k, 2k + 1) are (a fraction `twins` of the complete pairs), or None."""
        if not self.config.twins or 2 * k + 1 >= self.n:
            return None
        rng = random.Random(_key(self.seed, _SPLITS[self.split], self.epoch, k, salt=1))
        if rng.random() >= self.config.twins:
            return None
        kinds, weights = zip(*self.config.twin_kinds.items())
        return rng.choices(kinds, weights=weights)[0]

    def _base(self, i: int) -> dict:
        rng = random.Random(_key(self.seed, _SPLITS[self.split], self.epoch, i))
        kind = self.twin_kind(i // 2) if i % 2 == 0 else None
        if kind is not None:  # the first of a twin pair
            return draw_twin_base(rng, self.labels, self.config, kind, self.split)
        return draw_scene(rng, self.labels, self.config, self.split)

    def is_twin(self, i: int) -> bool:
        """Whether scene i is the twin of scene i - 1 (odd i, in a fraction `twins` of pairs)."""
        return i % 2 == 1 and self.twin_kind(i // 2) is not None

    def scene(self, i: int) -> dict:
        """What scene i shows (items, background, original look), as plain data."""
        i = self._check(i)
        if not self.is_twin(i):
            return self._base(i)
        rng = random.Random(_key(self.seed, _SPLITS[self.split], self.epoch, i, salt=4))
        return twin(self._base(i - 1), self.twin_kind(i // 2), rng, self.config, self.split)

    def _own_caption(self, i: int) -> str:
        scene = self.scene(i)
        kind = self.twin_kind(i // 2)
        if kind is not None:  # both twins in the same words but what tells them apart (scene_text.twin_captions)
            first, second = self.scene(i - i % 2), self.scene(i - i % 2 + 1)
            rng = random.Random(_key(self.seed, _SPLITS[self.split], self.epoch, i - i % 2, salt=2))
            pair = scene_text.twin_captions(first["items"], second["items"], first["background"], rng, kind)
            if pair is not None:
                return pair[i % 2]
        rng = random.Random(_key(self.seed, _SPLITS[self.split], self.epoch, i, salt=2))
        return scene_text.caption(scene["items"], scene["background"], rng, scene["original"])

    def caption(self, i: int) -> str:
        """Scene i's caption, or, for a fraction `noise` of scenes, another scene's (as scraped pairs are)."""
        i = self._check(i)
        rng = random.Random(_key(self.seed, _SPLITS[self.split], self.epoch, i, salt=3))
        if self.n > 1 and rng.random() < self.config.noise:
            return self._own_caption((i + rng.randrange(1, self.n)) % self.n)
        return self._own_caption(i)

    def epoch_order(self, seed: int, epoch: int) -> list[int]:
        """A shuffled order that keeps each pair (2k, 2k + 1) together, so twins meet in one batch (an even
        batch size keeps them there). A pure function of (seed, epoch), like minclip.train.epoch_order."""
        generator = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
        pairs = torch.randperm((self.n + 1) // 2, generator=generator).tolist()
        return [i for k in pairs for i in (2 * k, 2 * k + 1) if i < self.n]

    def __getitem__(self, i: int) -> tuple[torch.Tensor, str, int]:
        i = self._check(i)
        scene = self.scene(i)
        image = normalize(render(scene, self.pool, self.config.resolution))
        items = scene["items"]
        return image, self.caption(i), items[0]["category"] if len(items) == 1 else -1
