"""Datasets of (image, caption, label) for training and testing minclip, and the collate function that batches them.

Every dataset here yields what the model takes and what the loss needs:
    image    float tensor (3, R, R), normalised with OpenAI's mean and std (minclip.transform.OPENAI_MEAN, OPENAI_STD)
    caption  str, tokenised later, in the training loop (minclip.tokenizer.tokenize)
    label    int, the class index for zero-shot evaluation, or -1 where there is none

    FashionMNISTPairs   Fashion-MNIST (Xiao, Rasul and Vollgraf, 2017) with captions written from its labels
                        (minclip.captions), new phrasings every epoch; ``.sample()`` reads the 1,000 images
                        committed in data/, so tests and CI never need the full data set
    SyntheticShapes     coloured shapes drawn with numpy, with held-out (colour, shape) pairs to test whether CLIP
                        composes what it learnt separately (minclip.shapes)
    ImageCaptionFolder  your own images: a CSV of filepath,caption (open_clip's layout) or class subfolders
                        (torchvision's ImageFolder layout) (minclip.image_folder)
    collate             [(image, caption, label)] * B -> (images (B, 3, R, R), [caption] * B, labels (B,))

Fashion-MNIST is 28x28 greyscale; CLIP's encoders take RGB at their own resolution. We upsample bicubically
(as CLIP's preprocessing does, openai/CLIP clip.py) and repeat the grey channel three times, so the images
look to the model like any other photo.
"""

from __future__ import annotations

import functools
import random
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from minclip.captions import CLASSNAMES, caption
from minclip.data import load_fashion_mnist
from minclip.image_folder import IMAGE_EXTENSIONS, ImageCaptionFolder
from minclip.resources import asset
from minclip.shapes import COLOURS, HOLDOUT, POSITIONS, SHAPE_CLASSES, SHAPES, SIZES, SyntheticShapes
from minclip.transform import OPENAI_MEAN, OPENAI_STD

__all__ = [
    "COLOURS", "HOLDOUT", "IMAGE_EXTENSIONS", "POSITIONS", "SAMPLE_PATH", "SHAPES", "SHAPE_CLASSES", "SIZES",
    "FashionMNISTPairs", "ImageCaptionFolder", "SyntheticShapes", "collate", "grey_to_rgb", "load_sample", "normalize",
    "to_model_input",
]

SAMPLE_PATH = asset("fashion_mnist_sample.npz")

# ----------------------------------------------------------------------------------------------------------
# pixels -> model input


@functools.cache
def _mean_std(dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """OpenAI's mean and std as (3, 1, 1) tensors of `dtype`, made once: normalize runs for every image."""
    return (torch.tensor(OPENAI_MEAN, dtype=dtype).view(3, 1, 1), torch.tensor(OPENAI_STD, dtype=dtype).view(3, 1, 1))


def normalize(x: torch.Tensor) -> torch.Tensor:
    """(3, H, W) or (B, 3, H, W) floats in [0, 1] -> OpenAI's normalisation, (x - mean) / std per channel."""
    mean, std = _mean_std(x.dtype)
    return (x - mean) / std


def grey_to_rgb(image: torch.Tensor, resolution: int) -> torch.Tensor:
    """A greyscale uint8 image (H, W) -> RGB floats (3, R, R) in [0, 1]: bicubic resize, clamp, grey as R, G, B.

    Bicubic interpolation overshoots near sharp edges (a white pixel beside a black one can come out at 1.1),
    so the result is clamped to [0, 1], as resizing a PIL image would do.
    """
    x = image.to(torch.float32).div(255.0)[None, None]  # (1, 1, H, W)
    x = F.interpolate(x, size=(resolution, resolution), mode="bicubic", align_corners=False).clamp(0.0, 1.0)
    return x[0].expand(3, -1, -1)  # (3, R, R)


def to_model_input(image: torch.Tensor, resolution: int) -> torch.Tensor:
    """A greyscale uint8 image (28, 28) -> the model's input (3, R, R): grey_to_rgb, then OpenAI's normalisation."""
    return normalize(grey_to_rgb(image, resolution))


# ----------------------------------------------------------------------------------------------------------
# Fashion-MNIST


def load_sample(path: str | Path | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The committed sample of Fashion-MNIST: (images uint8 [1000, 28, 28], labels int64 [1000]).

    The first 100 test images of each class, in test-set order (scripts/make_fashion_mnist_sample.py; provenance
    in minclip/assets/README.md). It ships inside the package, in minclip/assets.
    """
    path = Path(path) if path is not None else SAMPLE_PATH
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: the Fashion-MNIST sample is missing. It is committed in the repository's data/ folder; "
            "use minclip from a checkout (pip install -e .), or rebuild it with "
            "`python scripts/make_fashion_mnist_sample.py` where the full data set is available"
        )
    with np.load(path) as f:
        images, labels = f["images"], f["labels"]
    return torch.from_numpy(images.astype(np.uint8)), torch.from_numpy(labels.astype(np.int64))


class FashionMNISTPairs(Dataset):
    """Fashion-MNIST as (image (3, R, R), caption, label), with a fresh caption per image and epoch.

    The caption of item i in a given epoch comes from random.Random(_caption_seed(seed, epoch, i)): the same
    seed and epoch give the same captions in any process and any DataLoader worker, so a run resumed at epoch e
    sees exactly what it would have seen; call set_epoch(e) at the start of each epoch to get new phrasings.
    """

    classnames = CLASSNAMES

    def __init__(
        self,
        split: str = "train",
        resolution: int = 128,
        root: str | Path | None = None,
        seed: int = 0,
        images: torch.Tensor | np.ndarray | None = None,
        labels: torch.Tensor | np.ndarray | None = None,
    ):
        if (images is None) != (labels is None):
            raise ValueError("pass both images and labels, or neither (then the split is loaded from disk)")
        if images is None:
            images, labels = load_fashion_mnist(split, root)
        self.images = torch.as_tensor(np.asarray(images), dtype=torch.uint8)  # (N, 28, 28)
        self.labels = torch.as_tensor(np.asarray(labels), dtype=torch.int64)  # (N,)
        if self.images.ndim != 3 or len(self.images) != len(self.labels):
            raise ValueError(f"expected images (N, H, W) and labels (N,), got {tuple(self.images.shape)} and "
                             f"{tuple(self.labels.shape)}")
        if len(self.labels) and not (0 <= int(self.labels.min()) and int(self.labels.max()) < len(CLASSNAMES)):
            raise ValueError(f"labels must be in 0..{len(CLASSNAMES) - 1}")
        self.split, self.resolution, self.seed, self.epoch = split, resolution, seed, 0

    @classmethod
    def sample(cls, resolution: int = 128, seed: int = 0) -> FashionMNISTPairs:
        """The dataset over the committed 1,000-image sample (load_sample), for tests, CI and quick demos."""
        images, labels = load_sample()
        return cls("sample", resolution=resolution, seed=seed, images=images, labels=labels)

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch whose captions __getitem__ returns (call it in every DataLoader's process: with
        persistent_workers=False, the default, workers are re-created each epoch and see the new value)."""
        self.epoch = int(epoch)

    def caption(self, i: int) -> str:
        """The caption of item i in the current epoch."""
        rng = random.Random(_caption_seed(self.seed, self.epoch, int(i)))
        return caption(int(self.labels[i]), rng)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, str, int]:
        i = int(i)
        if not -len(self) <= i < len(self):
            raise IndexError(f"index {i} out of range for {len(self)} items")
        i = i % len(self)
        return to_model_input(self.images[i], self.resolution), self.caption(i), int(self.labels[i])


def _caption_seed(seed: int, epoch: int, i: int) -> int:
    """A stable integer per (seed, epoch, index): the three packed into separate bit fields, so no two triples
    with 0 <= epoch, i < 2**32 share a seed (Python's hash() of a tuple would, and str hashes change per process).
    """
    return (seed << 64) | (epoch << 32) | i


# ----------------------------------------------------------------------------------------------------------
# batching


def collate(batch: list[tuple]) -> tuple:
    """[(image (3, R, R), caption, label)] * B -> (images (B, 3, R, R), captions [str] * B, labels LongTensor (B,)).
    Items with a fourth element, a hard negative caption ("" for none; FashionScenes with hard_negatives), add
    a fourth: the list of those captions."""
    images, captions, labels, *negatives = zip(*batch)
    out = torch.stack(images), list(captions), torch.tensor(labels, dtype=torch.int64)
    return out + (list(negatives[0]),) if negatives else out
