"""The demo's plain functions: pick a model, index a dataset's images, search them with text, and classify an
image zero-shot. The widget app (minclip.demo_app) and chapter 8 only call these; what the user gives (a dataset,
an uploaded file) is loaded and checked in minclip.demo_data, whose public names this module re-exports.

Search is CLIP's retrieval: every image is embedded once and L2-normalised, a query is embedded once, and the
cosine similarity of the two is one matrix-vector product. Classification is CLIP's zero-shot recipe
(Radford et al. 2021, section 3.1; the "Zero-Shot Prediction" example of openai/CLIP's README): the classes'
prompts are embedded, the image goes to the class whose embedding is closest, and ``logit_scale.exp()`` times
the cosine similarities, through a softmax, gives probabilities.

Beside the class list it is given, classification offers presets and prompt sets (minclip.demo_prompts, also
re-exported): the zero-shot task suite's class lists, and the prompts the models were evaluated with.

Every problem a user can cause (a file that is not an image or not a CLIP checkpoint, an empty folder, an empty
query) raises ``DemoError``, a ValueError whose message says what to do, so the app can show it and go on.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from tqdm.auto import tqdm

from minclip.captions import CLASSNAMES
from minclip.demo_data import (
    DEFAULT_DATASET,
    MAX_UPLOAD_BYTES,
    MAX_UPLOAD_PIXELS,
    SAMPLE,
    SCENES,
    TEST_SET,
    DemoDataset,
    DemoError,
    SceneDataset,
    available_datasets,
    describe_scene,
    load_dataset,
    read_upload,
)
from minclip.demo_prompts import CLASS_PRESETS, PROMPT_SETS, preset_classes, preset_of, prompts
from minclip.hf import HUB_PREFIX
from minclip.load import available_models, load
from minclip.model import CLIP
from minclip.transform import preprocess_for
from minclip.zeroshot import encode_images, zero_shot_classifier

__all__ = ["CLASSNAMES", "CLASS_PRESETS", "DEFAULT_DATASET", "DEFAULT_MODEL", "MAX_UPLOAD_BYTES", "MAX_UPLOAD_PIXELS",
           "PROMPT_SETS", "SAMPLE", "SCENES", "TEMPLATE_SETS", "TEST_SET", "DemoDataset", "DemoError", "DemoModel",
           "Hit", "Prediction", "SceneDataset", "SearchIndex", "SearchResults", "available_datasets",
           "available_models", "build_index", "check_prompts", "classify", "default_cache_dir", "describe_scene",
           "index_key", "load_dataset", "load_model", "preset_classes", "preset_of", "prompts", "read_upload",
           "search", "weights_fingerprint"]

DEFAULT_MODEL = "fashion-scenes-cpu"  # trained on Fashion Scenes' captions (the label-caption one: fashion-mnist-cpu)
TEMPLATE_SETS = {name: PROMPT_SETS[name] for name in ("paper", "ensemble")}  # section 3.1.4, minclip.captions
_INDEX_FORMAT = "minclip-index-1"


# ----------------------------------------------------------------------------------------------------------
# models


@dataclass(eq=False)
class DemoModel:
    """A loaded CLIP with its preprocessing and a fingerprint of its weights (the index cache's key)."""

    clip: CLIP
    preprocess: Callable
    name: str
    fingerprint: str
    classifiers: dict = field(default_factory=dict, repr=False)  # (classnames, templates) -> (D, C)

    @classmethod
    def from_clip(cls, clip: CLIP, name: str = "in-memory model") -> DemoModel:
        """Wrap a CLIP built or trained in this process (its fingerprint is taken now: re-wrap after training)."""
        return cls(clip, preprocess_for(clip.config.image_resolution), name, weights_fingerprint(clip))


def weights_fingerprint(model: CLIP) -> str:
    """sha256 of every parameter and buffer (names, dtypes, shapes, bytes): same weights, same key."""
    h = hashlib.sha256()
    for name, t in sorted(model.state_dict().items()):
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}".encode())
        h.update(t.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def load_model(name_or_path: str | Path = DEFAULT_MODEL, device: str = "cpu", progress=False) -> DemoModel:
    """A name from ``minclip.available_models()`` (OpenAI's released ones are downloaded once, reporting to
    `progress` as minclip.load does), the path of an OpenAI, OpenCLIP or minclip checkpoint, or a hub id."""
    text = str(name_or_path).strip()
    if not text:
        raise DemoError(f"no model given: pick one of {available_models()} or type a checkpoint's path")
    try:
        # hub ids only with OpenCLIP's prefix here: a mistyped name ("ViT-Z/99") is not sent to the hub
        where = text if text in available_models() or text.startswith(HUB_PREFIX) else Path(text).expanduser()
        clip, preprocess = load(where, device=device, progress=progress)
    except (FileNotFoundError, IsADirectoryError):
        raise DemoError(f"{text!r} is neither a model this app knows nor a checkpoint file. Models it knows: "
                        f"{', '.join(available_models())}; or type the path of a checkpoint file (.safetensors or "
                        f".pt), or a Hugging Face hub id as {HUB_PREFIX}ORG/NAME") from None
    except (OSError, ImportError) as err:  # a failed download, offline: the message says where to put the file
        raise DemoError(str(err)) from None
    except (ValueError, KeyError, RuntimeError, TypeError, IndexError) as err:
        raise DemoError(f"{text} is not a CLIP checkpoint minclip can read ({err}). Use a checkpoint saved by "
                        "minclip.save_checkpoint or minclip.train, an OpenAI CLIP .pt file or an OpenCLIP one, "
                        f"or pick one of {available_models()}") from None
    return DemoModel(clip, preprocess, text, weights_fingerprint(clip))


# ----------------------------------------------------------------------------------------------------------
# the index


@dataclass(eq=False)
class SearchIndex:
    """L2-normalised image embeddings (N, D) float32 of ``dataset`` under the model with ``model_fingerprint``."""

    embeddings: torch.Tensor  # (N, D)
    dataset: DemoDataset
    model_fingerprint: str
    key: str
    from_cache: bool = False

    def __len__(self) -> int:
        return len(self.embeddings)


def default_cache_dir() -> Path:
    """``$MINCLIP_CACHE``, else ``$XDG_CACHE_HOME/minclip``, else ``~/.cache/minclip``."""
    if os.environ.get("MINCLIP_CACHE"):
        return Path(os.environ["MINCLIP_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "minclip"


def index_key(model: DemoModel, dataset: DemoDataset) -> str:
    """The cache key: the model's weights, the dataset's content and how images become model inputs."""
    parts = [_INDEX_FORMAT, model.fingerprint, dataset.identity,
             dataset.preprocessing(model.clip.config.image_resolution)]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()


@torch.no_grad()
def build_index(model: DemoModel, dataset: DemoDataset, batch_size: int = 128,
                progress: bool | Callable[[int, int], None] = True, cache_dir: str | Path | None = None
                ) -> SearchIndex:
    """Embed every image of ``dataset``, or read the embeddings cached in ``cache_dir`` (None: no disk cache; a
    folder that cannot be written is not used). The file is named after ``index_key``: another model, other
    images or another preprocessing give another file.

    ``progress``: True for a tqdm.auto bar, or a function called with (images done, total) after each batch.
    """
    key = index_key(model, dataset)
    path = Path(cache_dir) / f"index-{key[:32]}.npz" if cache_dir is not None else None
    if path is not None and path.is_file():
        try:
            with np.load(path, allow_pickle=False) as f:
                if str(f["key"]) == key and len(f["embeddings"]) == len(dataset):
                    return SearchIndex(torch.from_numpy(f["embeddings"]), dataset, model.fingerprint, key, True)
        except (OSError, ValueError, KeyError):
            pass  # a damaged cache file is rebuilt below
    clip, n = model.clip, len(dataset)
    if n == 0:
        raise DemoError(f"{dataset.name}: no images to index")
    chunks = []
    bar = tqdm(total=n, desc="indexing", unit="image", disable=progress is not True, leave=False)
    for start in range(0, n, batch_size):
        idx = range(start, min(start + batch_size, n))
        try:
            images = torch.stack([dataset.model_input(i, model) for i in idx])  # (B, 3, R, R)
        except (ValueError, FileNotFoundError) as err:
            raise DemoError(f"{err}") from None
        chunks.append(encode_images(clip, images, batch_size=len(images)))  # (B, D), normalised
        bar.update(len(idx))
        if callable(progress):
            progress(idx.stop, n)
    bar.close()
    embeddings = torch.cat(chunks)  # (N, D)
    if path is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.tmp.npz")
            np.savez(tmp, embeddings=embeddings.numpy(), key=np.array(key))
            os.replace(tmp, path)  # atomic: a reader never sees half a file
        except OSError:
            pass  # an unwritable cache folder costs the next build its shortcut, nothing else
    return SearchIndex(embeddings, dataset, model.fingerprint, key, False)


# ----------------------------------------------------------------------------------------------------------
# search and zero-shot classification


class Hit(NamedTuple):
    index: int  # item of the dataset
    score: float  # cosine similarity in [-1, 1]


class SearchResults(list):
    """A list of Hit, best first; ``truncated`` is True when the query was cut to the model's context length."""

    def __init__(self, hits: Sequence[Hit], query: str, truncated: bool):
        super().__init__(hits)
        self.query, self.truncated = query, truncated


def _tokens(clip: CLIP, texts: list[str]) -> tuple[torch.Tensor, bool]:
    """(token ids (B, T), whether any text was cut to fit the model's context length)."""
    try:
        return clip.tokenize(texts), False
    except ValueError:
        return clip.tokenize(texts, truncate=True), True


@torch.inference_mode()
def search(index: SearchIndex, model: DemoModel, text: str, k: int = 8) -> SearchResults:
    """The k items most similar to ``text``: one text encoding, one matrix-vector product, a top-k.

    A text longer than the model's context (32 tokens for the shipped model) is cut, and the results say so.
    """
    if not isinstance(text, str) or not text.strip():
        raise DemoError("type a description of what to find, e.g. 'a pair of trousers'")
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise DemoError(f"k must be a whole number of results, at least 1 (got {k!r})")
    if model.fingerprint != index.model_fingerprint:
        raise DemoError("this index was built with another model: build it again with build_index")
    clip = model.clip
    tokens, truncated = _tokens(clip, [text.strip()])  # (1, T)
    query = F.normalize(clip.encode_text(tokens.to(next(clip.parameters()).device)).float(), dim=-1)[0].cpu()
    scores = index.embeddings @ query  # (N,)
    top = torch.topk(scores, min(k, len(scores)))
    return SearchResults([Hit(int(i), float(s)) for s, i in zip(top.values, top.indices)], text, truncated)


def check_prompts(classnames: Sequence[str], templates: Sequence[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Stripped, validated (classnames, templates), or a DemoError saying what is wrong."""
    names = tuple(str(c).strip() for c in classnames if str(c).strip())
    temps = tuple(str(t).strip() for t in templates if str(t).strip())
    if len(names) < 2:
        raise DemoError("give at least two class names, one per line (e.g. trousers, dress)")
    if len(set(names)) < len(names):
        raise DemoError(f"class names must be different: {sorted({c for c in names if names.count(c) > 1})}")
    if not temps:
        raise DemoError("give at least one template with {} where the class name goes, e.g. 'a photo of a {}.'")
    for t in temps:
        try:
            ok = t.count("{}") == 1 and t.format("x") is not None
        except (IndexError, KeyError, ValueError):
            ok = False
        if not ok:
            raise DemoError(f"template {t!r} must hold '{{}}' exactly once (where the class name goes) and no "
                            "other braces, e.g. 'a photo of a {}.'")
    return names, temps


class Prediction(NamedTuple):
    classname: str
    probability: float


@torch.inference_mode()
def classify(model: DemoModel, image: Image.Image | torch.Tensor, classnames: Sequence[str],
             templates: Sequence[str] = TEMPLATE_SETS["paper"], k: int = 5) -> list[Prediction]:
    """The k most probable classes of ``image`` (a PIL image, or a model input (3, R, R)), best first.

    The classifier (prompt ensemble in embedding space, minclip.zero_shot_classifier) is built once per
    (classnames, templates) and kept with the model.
    """
    names, temps = check_prompts(classnames, templates)
    clip = model.clip
    if (names, temps) not in model.classifiers:
        try:
            model.classifiers[(names, temps)] = zero_shot_classifier(clip, names, temps)  # (D, C)
        except ValueError as err:
            raise DemoError(f"cannot build prompts from these class names and templates: {err}") from None
    classifier = model.classifiers[(names, temps)]
    if isinstance(image, Image.Image):
        image = model.preprocess(image)  # (3, R, R)
    features = F.normalize(clip.encode_image(image[None].to(classifier.device)).float(), dim=-1)  # (1, D)
    probs = (clip.logit_scale.exp().float() * features @ classifier).softmax(dim=-1)[0].cpu()  # (C,)
    top = torch.topk(probs, min(max(int(k), 1), len(names)))
    return [Prediction(names[i], float(p)) for p, i in zip(top.values, top.indices)]
