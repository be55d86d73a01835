"""CLIP's image preprocessing, and reading a picture the way a person sees it in an image viewer.

``preprocess_for(R)`` is CLIP's transform (openai/CLIP, clip.py ``_transform``; open_clip's ``image_transform`` for
evaluation): bicubic resize of the short side to R, centre crop R x R, to tensor, OpenAI's mean and std. Before
it, ``to_rgb`` turns any decoded picture into the RGB image a viewer would show, fixing what a bare
``image.convert("RGB")`` gets wrong:

    EXIF orientation   a phone's portrait photo is stored sideways with an orientation tag: turned upright
    transparency       a black shape on a transparent background: composited onto white (``convert`` drops the
                       alpha channel and shows whatever colour the transparent pixels happen to hold, often black)
    16-bit greyscale   a PNG with values 0..65535 (Pillow's mode I;16): scaled to 0..255 (``convert`` clips every
                       value above 255 to white)

Converting before resizing also makes palette images (mode P) resize bicubically instead of by nearest neighbour.
Then ``crop_long_side`` bounds the aspect ratio: a 1 x 50,000 strip would be resized to 224 x 11,200,000 pixels
(3.5 GB) only for the centre crop to keep 224 x 224 of it. Cutting the long side to ``MAX_ASPECT`` times the
short side first keeps the centre, so the crop sees the same pixels, and the resize stays small.

This module imports nothing of minclip: it sits at the bottom of the package's layers (open_clip's
``transform.py`` and ``constants.py`` play the same part).
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageOps
from torchvision import transforms

# OpenAI's preprocessing constants (openai/CLIP, clip.py): the mean and std of its training images, per channel
OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)
MAX_ASPECT = 4.0  # long side / short side kept before resizing; the centre crop keeps 1.0 of it
BACKGROUND = (255, 255, 255)  # what shows through transparent pixels, as in an image viewer
_WIDE_INT_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I")  # 16-bit greyscale (Pillow reads some PNGs as "I")


def to_rgb(image: Image.Image) -> Image.Image:
    """The picture as a viewer shows it, in mode RGB: upright, transparency on white, 16-bit grey at its range.

    Examples: a (0, 0, 0, 0) pixel (transparent black) -> (255, 255, 255); an I;16 pixel 65535 -> (255, 255, 255),
    32896 -> (128, 128, 128), where ``convert("RGB")`` gives 255 for anything above 255.
    """
    image = ImageOps.exif_transpose(image)
    if image.mode in _WIDE_INT_MODES:
        values = np.asarray(image).astype(np.float64)  # (H, W)
        if image.mode != "I" or values.max(initial=0) > 255:  # mode I from an 8-bit source keeps its range
            values = values / 257.0  # 65535 -> 255
        image = Image.fromarray(values.round().clip(0, 255).astype(np.uint8), mode="L")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, BACKGROUND + (255,))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def crop_long_side(image: Image.Image, max_aspect: float = MAX_ASPECT) -> Image.Image:
    """Cut the centre of the long side to at most ``max_aspect`` times the short side; other images pass as they are.

    Example: 1 x 50,000 -> 1 x 4 (the centre); 300 x 200 -> unchanged.
    """
    width, height = image.size
    short, long = min(width, height), max(width, height)
    keep = max(1, int(max_aspect * short))
    if long <= keep:
        return image
    start = (long - keep) // 2
    box = (start, 0, start + keep, height) if width > height else (0, start, width, start + keep)
    return image.crop(box)


def preprocess_for(resolution: int) -> transforms.Compose:
    """CLIP's transform: the picture as seen, aspect bounded, bicubic resize of the short side, centre crop,
    to tensor, OpenAI's normalisation. Takes a PIL image, returns (3, R, R) float32."""
    return transforms.Compose([
        to_rgb,
        crop_long_side,
        transforms.Resize(resolution, interpolation=transforms.InterpolationMode.BICUBIC),
        transforms.CenterCrop(resolution),
        transforms.ToTensor(),
        transforms.Normalize(OPENAI_MEAN, OPENAI_STD),
    ])
