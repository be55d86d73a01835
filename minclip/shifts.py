"""Distribution shifts of Fashion-MNIST images: the same items, shown the way a user might meet them.

Radford et al. 2021 (section 3.3, figures 13 and 14) measure how much accuracy a model keeps when the test
images move away from the training distribution (ImageNet's sketches, renditions, adversarial and new test sets),
and call the accuracy above what in-distribution accuracy predicts *effective robustness* (Taori et al. 2020).
This module makes such shifts for Fashion-MNIST's test images, one function per shift, each a pure function of
the item, the output resolution and a seeded random generator:

    original        the data set's look: one grey item, centred, on black (minclip.datasets.to_model_input)
    inverted        grey levels inverted: a dark item on a white ground
    coloured        the item in one of the 11 basic colours, on black (minclip.scenes.render)
    small           the item at about 40% of the side, off centre, on black
    noise           Gaussian pixel noise, standard deviation 0.2 of the grey range
    blur            a Gaussian blur of the 28x28 image (sigma 1.2 pixels)
    second item     the item, large, beside a smaller item of another class
    edges           the outline only: the Sobel gradient magnitude, as a pencil sketch would keep it

``shifted(name, pool, labels, i, resolution, rng)`` returns the RGB image (3, R, R) in [0, 1] of item i.
"""

from __future__ import annotations

import random

import torch
import torch.nn.functional as F

from minclip.datasets import grey_to_rgb
from minclip.scene_text import COLOURS
from minclip.scenes import render

SHIFTS = ("original", "inverted", "coloured", "small", "noise", "blur", "second item", "edges")


def _item(pool: torch.Tensor, labels: torch.Tensor, i: int, colour: str, extent: float, centre) -> dict:
    return {"category": int(labels[i]), "source": i, "colour": colour, "size": "large", "centre": centre,
            "extent": extent}


def _scene(items: list[dict], pool: torch.Tensor, resolution: int) -> torch.Tensor:
    return render({"items": items, "background": "black", "original": False}, pool, resolution)


def _grey(image: torch.Tensor) -> torch.Tensor:
    return image.to(torch.float32).div(255)[None, None]  # (1, 1, 28, 28) in [0, 1]


def _as_uint8(x: torch.Tensor) -> torch.Tensor:
    return (x[0, 0].clamp(0, 1) * 255).round().to(torch.uint8)  # (28, 28)


def shifted(name: str, pool: torch.Tensor, labels: torch.Tensor, i: int, resolution: int,
            rng: random.Random) -> torch.Tensor:
    """Item i of the pool (uint8 (N, 28, 28), labels (N,)) under shift `name`, as RGB (3, R, R) in [0, 1]."""
    image = pool[i]
    if name == "original":
        return grey_to_rgb(image, resolution)
    if name == "inverted":
        return grey_to_rgb(255 - image, resolution)
    if name == "coloured":
        return _scene([_item(pool, labels, i, rng.choice(tuple(COLOURS)), 1.0, (0.5, 0.5))], pool, resolution)
    if name == "small":
        centre = (rng.uniform(0.25, 0.75), rng.uniform(0.25, 0.75))
        return _scene([_item(pool, labels, i, "white", 0.4, centre)], pool, resolution)
    if name == "noise":
        generator = torch.Generator().manual_seed(rng.randrange(2**31))
        x = grey_to_rgb(image, resolution)
        return (x + 0.2 * torch.randn(x.shape[1:], generator=generator)).clamp(0, 1)  # the same noise on R, G, B
    if name == "blur":
        blurred = _gaussian_blur(_grey(image), sigma=1.2)
        return grey_to_rgb(_as_uint8(blurred), resolution)
    if name == "second item":
        while True:
            j = rng.randrange(len(labels))
            if labels[j] != labels[i]:
                break
        left = rng.random() < 0.5
        main, other = ((0.35, 0.5), (0.8, 0.5)) if left else ((0.65, 0.5), (0.2, 0.5))
        return _scene([_item(pool, labels, i, "white", 0.62, main), _item(pool, labels, j, "white", 0.3, other)],
                      pool, resolution)
    if name == "edges":
        return grey_to_rgb(_as_uint8(_sobel(_grey(image))), resolution)
    raise ValueError(f"unknown shift {name!r}; choose one of {', '.join(SHIFTS)}")


def _gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """(1, 1, H, W) blurred by a separable Gaussian of `sigma` pixels (kernel 2 * ceil(3 sigma) + 1)."""
    radius = int(-(-3 * sigma // 1))
    t = torch.arange(-radius, radius + 1, dtype=torch.float32)
    k = torch.exp(-t**2 / (2 * sigma**2))
    k = k / k.sum()
    x = F.conv2d(F.pad(x, (radius, radius, 0, 0), mode="reflect"), k.view(1, 1, 1, -1))
    return F.conv2d(F.pad(x, (0, 0, radius, radius), mode="reflect"), k.view(1, 1, -1, 1))


def _sobel(x: torch.Tensor) -> torch.Tensor:
    """The gradient magnitude of (1, 1, H, W), scaled so that its largest value is 1."""
    gx = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]]).view(1, 1, 3, 3)
    padded = F.pad(x, (1, 1, 1, 1), mode="replicate")
    g = torch.sqrt(F.conv2d(padded, gx) ** 2 + F.conv2d(padded, gx.transpose(2, 3)) ** 2)
    return g / g.max().clamp(min=1e-6)
