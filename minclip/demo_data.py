"""What the demo is given: the images to search (a dataset) and an uploaded file, checked before use.

A dataset is Fashion-MNIST (Xiao et al. 2017: the committed 1,000-image sample of its test set, or the whole test
set where its files are found), a folder of class subfolders (torchvision's ImageFolder layout) or a CSV of
filepath,caption (minclip.image_folder). An upload is decoded with Pillow only after its size and its header's
pixel count are checked, the defence Pillow's own ``Image.MAX_IMAGE_PIXELS`` guard is for (decompression bombs).

Every problem a user can cause raises ``DemoError``, a ValueError whose message says what to do, so the app
(minclip.demo_app) can show it and go on. minclip.demo indexes, searches and classifies what this module loads.
"""

from __future__ import annotations

import hashlib
import io
import json
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import torch
from PIL import Image, UnidentifiedImageError

from minclip.captions import CLASSNAMES
from minclip.data import find_fashion_mnist, load_fashion_mnist
from minclip.datasets import SAMPLE_PATH, load_sample, to_model_input
from minclip.image_folder import ImageCaptionFolder, open_image
from minclip.transform import to_rgb


class ReadsImages(Protocol):
    """What model_input needs of a model (minclip.demo.DemoModel has it): its CLIP, for the input resolution, and
    its preprocessing of a photo. A protocol, so this module, below minclip.demo, never imports it."""

    clip: torch.nn.Module
    preprocess: Callable[[Image.Image], torch.Tensor]

SAMPLE, TEST_SET = "fashion-mnist-sample", "fashion-mnist-test"
MAX_UPLOAD_BYTES, MAX_UPLOAD_PIXELS = 10 * 2**20, 4096 * 4096


class DemoError(ValueError):
    """Something the user gave (file, folder, query, class names) cannot be used; the message says what to do."""


# ----------------------------------------------------------------------------------------------------------
# datasets


@dataclass(eq=False)
class DemoDataset:
    """Images to search: Fashion-MNIST pixels (N, 28, 28) uint8 in memory, or image files read when needed.

    ``identity`` is a hash of the content (pixels, or paths with sizes and times), part of the index cache key.
    """

    name: str
    identity: str
    labels: list[int]  # -1 where an image has no class
    classnames: tuple[str, ...] | None
    pixels: torch.Tensor | None = None  # (N, 28, 28) uint8, Fashion-MNIST
    paths: list[Path] | None = None  # image files, for a custom folder or CSV
    captions: list[str] | None = None

    def __len__(self) -> int:
        return len(self.labels)

    def image(self, i: int) -> Image.Image:
        """Item i as it is displayed: the raw image, not the model's input."""
        if self.pixels is not None:
            return Image.fromarray(self.pixels[i].numpy())  # (28, 28) uint8: greyscale, mode L
        return open_image(self.paths[i])

    def describe(self, i: int) -> str:
        """Item i's class name, else its caption, else its file name."""
        if self.classnames is not None and self.labels[i] >= 0:
            return self.classnames[self.labels[i]]
        return self.captions[i] if self.captions else (self.paths[i].name if self.paths else str(i))

    def preprocessing(self, resolution: int) -> str:
        """Names how model inputs are made, for the cache key."""
        kind = "fashion-mnist-tensor-bicubic" if self.pixels is not None else "clip-pil-bicubic-centrecrop"
        return f"{kind}-{resolution}"

    def model_input(self, i: int, model: ReadsImages) -> torch.Tensor:
        """Item i as the model reads it, (3, R, R)."""
        if self.pixels is not None:  # as in training: bicubic on the uint8 tensor (minclip.datasets)
            return to_model_input(self.pixels[i], model.clip.config.image_resolution)
        return model.preprocess(open_image(self.paths[i]))


def available_datasets() -> list[str]:
    """The built-in datasets: the committed sample, and Fashion-MNIST's test set where its files are found."""
    return [SAMPLE] + ([TEST_SET] if find_fashion_mnist() is not None else [])


def _fashion(name: str, images: torch.Tensor, labels: torch.Tensor) -> DemoDataset:
    identity = hashlib.sha256(images.numpy().tobytes() + labels.numpy().tobytes()).hexdigest()
    return DemoDataset(name, identity, labels.tolist(), CLASSNAMES, pixels=images)


def load_dataset(name_or_path: str | Path = SAMPLE) -> DemoDataset:
    """A built-in name (``available_datasets()``), a folder of class subfolders, or a CSV of filepath,caption."""
    text = str(name_or_path).strip()
    if text == SAMPLE:
        return _fashion(SAMPLE, *load_sample(SAMPLE_PATH))
    if text == TEST_SET:
        try:
            return _fashion(TEST_SET, *load_fashion_mnist("test", download=False))
        except FileNotFoundError as err:
            raise DemoError(f"{err}\nOr pick {SAMPLE}, which is committed in the repository") from None
    if not text:
        raise DemoError(f"no dataset given: pick one of {available_datasets()} or type a folder or CSV path")
    try:
        folder = ImageCaptionFolder(Path(text).expanduser())
    except (FileNotFoundError, ValueError, OSError) as err:
        raise DemoError(f"cannot use {text} as a dataset: {err}") from None
    paths = [p.resolve() for p in folder.paths]
    stats = [(str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in paths]
    identity = hashlib.sha256(json.dumps([stats, folder.captions, folder.labels]).encode()).hexdigest()
    return DemoDataset(text, identity, list(folder.labels), folder.classnames, paths=paths,
                       captions=list(folder.captions))


# ----------------------------------------------------------------------------------------------------------
# uploads


def read_upload(data: bytes, max_bytes: int = MAX_UPLOAD_BYTES, max_pixels: int = MAX_UPLOAD_PIXELS) -> Image.Image:
    """Decode uploaded bytes into an RGB image, refusing empty, oversized and non-image files before decoding."""
    if not data:
        raise DemoError("the uploaded file is empty; choose a PNG, JPEG, WebP, GIF or BMP image")
    if len(data) > max_bytes:
        raise DemoError(f"the file is {len(data) / 2**20:.1f} MiB, more than the {max_bytes / 2**20:.1f} MiB "
                        "allowed; resize or compress it first")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(bytes(data))) as image:  # reads the header only
                width, height = image.size
                if width * height > max_pixels:
                    raise DemoError(f"the image is {width}x{height} pixels, more than the {max_pixels:,} allowed "
                                    "(a small file this large may be a decompression bomb); resize it first")
                return to_rgb(image)  # decodes it, as a viewer shows it (upright, transparency on white)
    except DemoError:
        raise
    except (Image.DecompressionBombWarning, Image.DecompressionBombError) as err:
        raise DemoError(f"refused, too many pixels ({err}); resize the image first") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        raise DemoError(f"this file is not an image minclip can read ({type(err).__name__}); choose a PNG, JPEG, "
                        "WebP, GIF or BMP image") from None
