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
belongs to, and a contrastive model learns to ignore them. Three kinds (``twin_kinds``; drawn in
minclip.scene_layout): relation (two items and their mirror image, the items swapped in the caption), position
(one item and its mirror image: "on the left" / "on the right") and colour (one item in two colours on the same
background: "a white coat" / "a grey coat"). With ``hard_negatives`` an item also carries, for a caption that
relates two items, the same caption with the items swapped: NegCLIP's swapped captions, extra negatives for the
image side of the loss (minclip.loss.clip_loss), without a second picture.

scripts/measure_scenes.py measures the stream: distinct captions, vocabulary, pairs per second, a gallery.
"""

from __future__ import annotations

import functools
import random

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from minclip import scene_text
from minclip.data import load_fashion_mnist
from minclip.datasets import grey_to_rgb, load_sample, normalize
from minclip.scene_layout import (  # noqa: F401 (re-exported: minclip.scenes is where readers look for them)
    HELDOUT_COMBOS,
    SINGLE_CENTRES,
    TWIN_KINDS,
    SceneConfig,
    draw_scene,
    draw_twin_base,
    mirror,
    twin,
)
from minclip.scene_text import COLOURS

_SPLITS = {"train": 0, "test": 1}


# ----------------------------------------------------------------------------------------------------------
# pixels


@functools.cache
def _rgb(colour: str) -> torch.Tensor:
    """A colour term's RGB as floats in [0, 1], (3, 1, 1), made once per colour (render paints thousands a step)."""
    return torch.tensor(COLOURS[colour], dtype=torch.float32).view(3, 1, 1) / 255


def render(scene: dict, pool: torch.Tensor, resolution: int) -> torch.Tensor:
    """A scene as an RGB float image (3, R, R) in [0, 1]. `pool`: the item images, uint8 (N, 28, 28).

    An item is its 28x28 grey image resized bicubically to its side; its grey levels g make the mask
    (alpha = min(1, 10 g): Fashion-MNIST's background is 0) and the shading of its colour (colour x (0.8 + 0.2 g /
    max g)), so a red coat keeps its folds and a white one still looks white, not grey; an item drawn with
    SceneConfig's shading and edge ranges carries its own s and k (colour x (1 - s + s g / max g), min(1, k g)).
    The data set's look is the grey image itself, upsampled to the canvas exactly as
    minclip.datasets.to_model_input does for Fashion-MNIST.
    """
    if scene["original"]:
        return grey_to_rgb(pool[scene["items"][0]["source"]], resolution)
    canvas = _rgb(scene["background"]).repeat(1, resolution, resolution)  # (3, R, R)
    for item in scene["items"]:
        side = max(4, round(item["extent"] * resolution))
        g = pool[item["source"]].to(torch.float32).div(255)[None, None]  # (1, 1, 28, 28)
        g = F.interpolate(g, size=(side, side), mode="bicubic", align_corners=False).clamp(0, 1)[0, 0]  # (s, s)
        shading, edge = item.get("shading", 0.2), item.get("edge", 10.0)
        alpha = (g * edge).clamp(max=1.0)
        rgb = _rgb(item["colour"]) * ((1 - shading) + shading * g / g.max().clamp(min=1e-6))  # (3, s, s)
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


@functools.lru_cache(maxsize=8192)
def _twin_kind(key: int, twins: float, kinds: tuple[tuple[str, float], ...]) -> str | None:
    """The kind of a twin pair drawn from its key, or None (a pure function: a pair's items ask for it often)."""
    rng = random.Random(key)
    if rng.random() >= twins:
        return None
    names, weights = zip(*kinds)
    return rng.choices(names, weights=weights)[0]


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
        if split == "train" and self.config.heldout_categories:  # their items leave the pool: never drawn
            keep = ~np.isin(self.labels, self.config.heldout_categories)
            self.pool, self.labels = self.pool[torch.from_numpy(keep)], self.labels[keep]

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
        return _twin_kind(_key(self.seed, _SPLITS[self.split], self.epoch, k, salt=1), self.config.twins,
                          tuple(self.config.twin_kinds.items()))

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
        return self._twin(self._base(i - 1), i) if self.is_twin(i) else self._base(i)

    def _twin(self, first: dict, i: int) -> dict:
        """Scene i (odd, a twin) made from the first scene of its pair."""
        rng = random.Random(_key(self.seed, _SPLITS[self.split], self.epoch, i, salt=4))
        return twin(first, self.twin_kind(i // 2), rng, self.config, self.split)

    def _own_captions(self, i: int, scene: dict | None = None) -> tuple[str, str | None]:
        """Scene i's own caption and its hard negative (scene_text.caption), or None: twins have theirs in the
        batch already. `scene`: scene i, where the caller has drawn it already."""
        scene = scene if scene is not None else self.scene(i)
        kind = self.twin_kind(i // 2)
        if kind is not None:  # both twins in the same words but what tells them apart (scene_text.twin_captions)
            first, second = (scene, self._twin(scene, i + 1)) if i % 2 == 0 else (self._base(i - 1), scene)
            rng = random.Random(_key(self.seed, _SPLITS[self.split], self.epoch, i - i % 2, salt=2))
            pair = scene_text.twin_captions(first["items"], second["items"], first["background"], rng, kind)
            if pair is not None:
                return pair[i % 2], None
        rng = random.Random(_key(self.seed, _SPLITS[self.split], self.epoch, i, salt=2))
        return scene_text.caption(scene["items"], scene["background"], rng, scene["original"])

    def captions(self, i: int, scene: dict | None = None) -> tuple[str, str | None]:
        """Scene i's caption and its hard negative or None; for a fraction `noise` of scenes, another scene's (as
        scraped pairs are). `scene`: scene i, where the caller has drawn it already."""
        i = self._check(i)
        rng = random.Random(_key(self.seed, _SPLITS[self.split], self.epoch, i, salt=3))
        if self.n > 1 and rng.random() < self.config.noise:
            return self._own_captions((i + rng.randrange(1, self.n)) % self.n)
        return self._own_captions(i, scene)

    def caption(self, i: int) -> str:
        """Scene i's caption (see captions)."""
        return self.captions(i)[0]

    def epoch_order(self, seed: int, epoch: int) -> list[int]:
        """A shuffled order that keeps each pair (2k, 2k + 1) together, so twins meet in one batch (an even
        batch size keeps them there). A pure function of (seed, epoch), like minclip.train.epoch_order."""
        generator = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
        pairs = torch.randperm((self.n + 1) // 2, generator=generator).tolist()
        return [i for k in pairs for i in (2 * k, 2 * k + 1) if i < self.n]

    def __getitem__(self, i: int) -> tuple:
        """(image (3, R, R), caption, label: the category of a one-item scene, else -1), and with
        config.hard_negatives the caption's hard negative ("" if none) as a fourth element."""
        i = self._check(i)
        scene = self.scene(i)
        image = normalize(render(scene, self.pool, self.config.resolution))
        items = scene["items"]
        label = items[0]["category"] if len(items) == 1 else -1
        caption, negative = self.captions(i, scene)
        return (image, caption, label, negative or "") if self.config.hard_negatives else (image, caption, label)
