"""What the demo is given: the images to search (a dataset) and an uploaded file, checked before use.

A dataset is a fixed sample of Fashion Scenes test scenes (minclip.scenes: items of the committed Fashion-MNIST
test sample, rendered in colour, one to four to a picture; the default), Fashion-MNIST (Xiao et al. 2017: the
committed 1,000-image sample of its test set, or the whole test set where its files are found), a folder of class
subfolders (torchvision's ImageFolder layout) or a CSV of filepath,caption (minclip.image_folder). An upload is
decoded with Pillow only after its size and its header's pixel count are checked, the defence Pillow's own
``Image.MAX_IMAGE_PIXELS`` guard is for (decompression bombs).

Every problem a user can cause raises ``DemoError``, a ValueError whose message says what to do, so the app
(minclip.demo_app) can show it and go on. minclip.demo indexes, searches and classifies what this module loads.
"""

from __future__ import annotations

import hashlib
import io
import json
import warnings
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import torch
from PIL import Image, UnidentifiedImageError

from minclip.captions import CLASSNAMES
from minclip.data import find_fashion_mnist, load_fashion_mnist
from minclip.datasets import SAMPLE_PATH, load_sample, normalize, to_model_input
from minclip.image_folder import ImageCaptionFolder, open_image
from minclip.scene_text import COUNT_WORDS, NOUNS, POSITION_WORDS, RELATION_WORDS, article, join, position, relation
from minclip.scenes import FashionScenes, SceneConfig, render
from minclip.tasks import ITEM_CLASSES
from minclip.transform import to_rgb


class ReadsImages(Protocol):
    """What model_input needs of a model (minclip.demo.DemoModel has it): its CLIP, for the input resolution, and
    its preprocessing of a photo. A protocol, so this module, below minclip.demo, never imports it."""

    clip: torch.nn.Module
    preprocess: Callable[[Image.Image], torch.Tensor]

SAMPLE, TEST_SET, SCENES = "fashion-mnist-sample", "fashion-mnist-test", "fashion-scenes-sample"
DEFAULT_DATASET = SCENES
# the demo's scenes: the test split (test items only), with more multi-item scenes than training draws, no mirror
# twins (near-duplicates in a gallery); 1,000 scenes index in seconds on a CPU
SCENE_COUNT, SCENE_SEED, SCENE_DISPLAY = 1000, 0, 128  # SCENE_DISPLAY: pixels of a scene as the app shows it
SCENE_CONFIG = SceneConfig(original=0.1, counts=(0.25, 0.35, 0.2, 0.2), noise=0.0, twins=0.0)
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


@dataclass(eq=False)
class SceneDataset(DemoDataset):
    """Fashion Scenes, rendered when needed: for display at SCENE_DISPLAY pixels, for the model at its own
    resolution exactly as training renders them (minclip.scenes.FashionScenes.__getitem__). ``scenes[i]`` is what
    scene i shows: items (category, colour, size, centre), background, and whether it has the data set's look."""

    scenes: list[dict] = field(default_factory=list)
    pool: torch.Tensor | None = None  # the item images (N, 28, 28) uint8

    def image(self, i: int) -> Image.Image:
        x = render(self.scenes[i], self.pool, SCENE_DISPLAY)  # (3, S, S) in [0, 1]
        return Image.fromarray(x.mul(255).round().to(torch.uint8).permute(1, 2, 0).numpy())  # RGB

    def describe(self, i: int) -> str:
        return describe_scene(self.scenes[i])

    def preprocessing(self, resolution: int) -> str:
        return f"fashion-scenes-render-{resolution}"

    def model_input(self, i: int, model: ReadsImages) -> torch.Tensor:
        return normalize(render(self.scenes[i], self.pool, model.clip.config.image_resolution))  # (3, R, R)


def _item_phrase(colour: str | None, category: int, n: int = 1) -> str:
    if n > 1:
        return " ".join(w for w in (COUNT_WORDS[n][0], colour, NOUNS[category][0][1]) if w)
    return article(" ".join(w for w in (colour, CLASSNAMES[category]) if w))


def describe_scene(scene: dict) -> str:
    """Everything a scene shows, in plain words: "a pink dress on the left", "a red bag above a blue coat", "two
    red sneakers", "a grey shirt, a black bag and two white coats", "a sneaker in greyscale" (the data set's look)."""
    items = scene["items"]
    if scene["original"]:
        return f"{_item_phrase(None, items[0]['category'])} in greyscale"
    groups = Counter((item["colour"], item["category"]) for item in items)  # keeps the items' order
    if len(items) == 1:
        where = position(items[0])
        return _item_phrase(items[0]["colour"], items[0]["category"]) + (f" {POSITION_WORDS[where][0]}" if where
                                                                           else "")
    if len(groups) == 2 == len(items) and (rel := relation(*items)) is not None:
        a, b = (_item_phrase(item["colour"], item["category"]) for item in items)
        return f"{a} {RELATION_WORDS[rel][0]} {b}"
    return join([_item_phrase(colour, category, n) for (colour, category), n in groups.items()])


def available_datasets() -> list[str]:
    """The built-in datasets: the scenes, the committed Fashion-MNIST sample, and Fashion-MNIST's test set where
    its files are found."""
    return [SCENES, SAMPLE] + ([TEST_SET] if find_fashion_mnist() is not None else [])


def _fashion(name: str, images: torch.Tensor, labels: torch.Tensor) -> DemoDataset:
    identity = hashlib.sha256(images.numpy().tobytes() + labels.numpy().tobytes()).hexdigest()
    return DemoDataset(name, identity, labels.tolist(), CLASSNAMES, pixels=images)


def load_scenes(n: int = SCENE_COUNT, seed: int = SCENE_SEED, config: SceneConfig = SCENE_CONFIG,
                name: str = SCENES) -> SceneDataset:
    """n Fashion Scenes test scenes drawn from the committed Fashion-MNIST test sample (no download), the same on
    every machine; its identity hashes the item images and every scene's content."""
    stream = FashionScenes.sample("test", n=n, config=config, seed=seed)
    scenes = [stream.scene(i) for i in range(n)]
    labels = [scene["items"][0]["category"] if len(scene["items"]) == 1 else -1 for scene in scenes]
    content = json.dumps(scenes, sort_keys=True).encode()
    identity = hashlib.sha256(stream.pool.numpy().tobytes() + content).hexdigest()
    return SceneDataset(name, identity, labels, ITEM_CLASSES, scenes=scenes, pool=stream.pool)


def load_dataset(name_or_path: str | Path = DEFAULT_DATASET) -> DemoDataset:
    """A built-in name (``available_datasets()``), a folder of class subfolders, or a CSV of filepath,caption."""
    text = str(name_or_path).strip()
    if text == SCENES:
        return load_scenes()
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
