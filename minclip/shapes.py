"""Synthetic shapes: a coloured circle, square or triangle on black, captioned with what was drawn.

A toy data set where the caption says everything about the image: "a small red circle in the top left" names
the colour, the shape, the size and the position, and nothing else varies. It trains in minutes, and it asks a
question Fashion-MNIST cannot: does CLIP compose? ``HOLDOUT`` lists (colour, shape) pairs that the train split
never shows, though it shows each colour and each shape with others; zero-shot accuracy on the "heldout" split
measures whether "blue" and "triangle" were learnt as separate concepts or only as memorised pairs. (Lewis et
al. 2022, "Does CLIP Bind Concepts? Probing Compositionality in Large Image Models", arXiv:2212.10537, ask the
same question with CLEVR-like objects.)

Items are drawn on demand and deterministically: item i of a data set comes from numpy's generator seeded with
(seed, split, i), so a data set of any length costs no memory and is the same in every process.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset
from torchvision.transforms.functional import normalize

from minclip.transform import OPENAI_MEAN, OPENAI_STD

COLOURS = {"red": (255, 0, 0), "green": (0, 255, 0), "blue": (0, 0, 255), "yellow": (255, 255, 0)}
SHAPES = ("circle", "square", "triangle")
SIZES = ("small", "large")
POSITIONS = ("top left", "top right", "bottom left", "bottom right")

# the 12 classes for zero-shot evaluation: label = SHAPE_CLASSES.index((colour, shape))
SHAPE_CLASSES = tuple((colour, shape) for colour in COLOURS for shape in SHAPES)
# never in the train split; each colour and each shape still appears there with others
HOLDOUT = (("red", "circle"), ("blue", "triangle"), ("yellow", "square"))

_RADIUS = {"small": 0.22, "large": 0.4}  # half the shape's width, as a fraction of a quadrant's side
_SPLIT_IDS = {"train": 0, "heldout": 1}


def draw(shape: str, colour: str, centre: tuple[float, float], radius: float, resolution: int) -> np.ndarray:
    """One shape on black: uint8 (R, R, 3). centre = (x, y) in pixels; the shape fits in a square of side 2*radius.

    The triangle points up: its apex is radius above the centre, its base radius below, radius to either side.
    """
    y, x = np.mgrid[0:resolution, 0:resolution] + 0.5  # pixel centres, (R, R) each
    cx, cy = centre
    if shape == "circle":
        mask = (x - cx) ** 2 + (y - cy) ** 2 <= radius**2
    elif shape == "square":
        mask = (np.abs(x - cx) <= radius) & (np.abs(y - cy) <= radius)
    elif shape == "triangle":  # half-width grows from 0 at the apex to radius at the base
        mask = (y <= cy + radius) & (np.abs(x - cx) <= (y - (cy - radius)) / 2)
    else:
        raise ValueError(f"shape must be one of {SHAPES}, got {shape!r}")
    image = np.zeros((resolution, resolution, 3), dtype=np.uint8)
    image[mask] = COLOURS[colour]
    return image


def _caption(p: dict) -> str:
    return f"a {p['size']} {p['colour']} {p['shape']} in the {p['position']}"


class SyntheticShapes(Dataset):
    """n items of (image (3, R, R) normalised, caption, label), train split without HOLDOUT or heldout with only it.

    SyntheticShapes(8, resolution=64)[0] is a 64x64 image with its caption, such as "a large yellow circle in the
    bottom left", and label 9 (SHAPE_CLASSES.index(("yellow", "circle"))).
    """

    classnames = tuple(f"{colour} {shape}" for colour, shape in SHAPE_CLASSES)

    def __init__(
        self,
        n: int,
        resolution: int = 64,
        seed: int = 0,
        holdout: tuple[tuple[str, str], ...] = HOLDOUT,
        split: str = "train",
    ):
        if split not in _SPLIT_IDS:
            raise ValueError(f"split must be 'train' or 'heldout', got {split!r}")
        unknown = [pair for pair in holdout if pair not in SHAPE_CLASSES]
        if unknown:
            raise ValueError(f"holdout pairs must be (colour, shape) from SHAPE_CLASSES, got {unknown}")
        held = set(map(tuple, holdout))
        self.combos = [c for c in SHAPE_CLASSES if (c in held) == (split == "heldout")]
        if not self.combos:
            raise ValueError(f"the {split!r} split has no (colour, shape) pairs with holdout={holdout}")
        if resolution < 16:
            raise ValueError(f"resolution must be at least 16 pixels, got {resolution}")
        self.n, self.resolution, self.seed, self.split, self.holdout = n, resolution, seed, split, tuple(holdout)

    def __len__(self) -> int:
        return self.n

    def params(self, i: int) -> dict:
        """What item i shows: colour, shape, size, position, centre (x, y) and radius in pixels."""
        i = int(i)
        if not 0 <= i < self.n:
            raise IndexError(f"index {i} out of range for {self.n} items")
        rng = np.random.default_rng([self.seed, _SPLIT_IDS[self.split], i])
        colour, shape = self.combos[rng.integers(len(self.combos))]
        size, position = SIZES[rng.integers(len(SIZES))], POSITIONS[rng.integers(len(POSITIONS))]
        quadrant = self.resolution / 2
        radius = _RADIUS[size] * quadrant
        # centre of the quadrant, moved by up to a quarter radius: the quadrant's centre stays inside the shape
        cx = quadrant * (1.5 if position.endswith("right") else 0.5) + rng.uniform(-0.25, 0.25) * radius
        cy = quadrant * (1.5 if position.startswith("bottom") else 0.5) + rng.uniform(-0.25, 0.25) * radius
        return {"colour": colour, "shape": shape, "size": size, "position": position,
                "centre": (cx, cy), "radius": radius}

    def caption(self, i: int) -> str:
        """"a {size} {colour} {shape} in the {position}", e.g. "a small red circle in the top left"."""
        return _caption(self.params(i))

    def __getitem__(self, i: int) -> tuple[torch.Tensor, str, int]:
        p = self.params(i)
        pixels = draw(p["shape"], p["colour"], p["centre"], p["radius"], self.resolution)  # (R, R, 3) uint8
        image = torch.from_numpy(pixels).permute(2, 0, 1).float().div(255.0)  # (3, R, R) in [0, 1]
        label = SHAPE_CLASSES.index((p["colour"], p["shape"]))
        return normalize(image, OPENAI_MEAN, OPENAI_STD), _caption(p), label
