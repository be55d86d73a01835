"""Reading and writing CLIP checkpoints, safely (CLIP's image preprocessing is in minclip.transform).

`load` mirrors openai/CLIP's `clip.load`: it returns the model and its preprocessing transform. It reads
OpenAI-layout state dicts saved with `torch.save`, openai/CLIP's released TorchScript archives, OpenCLIP's
checkpoints (a bare state dict or {"state_dict": ...}, with or without DDP's "module." prefix), and minclip's
own safetensors files, which carry their config and tokenizer; OpenAI's released models by name (downloaded by
minclip/pretrained.py), OpenCLIP's and transformers' folders and hub ids through minclip/hf.py. Nothing here
executes code from a file: pickles go through PyTorch's weights-only unpickler, and TorchScript archives through
a restricted unpickler that only rebuilds tensors (their code is never compiled or run).
"""

from __future__ import annotations

import json
import pickle
import re
import zipfile
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file
from torchvision import transforms

from minclip import hf
from minclip.model import CLIP, CLIPConfig, build_model
from minclip.pretrained import OPENAI_MODELS, Progress, download
from minclip.resources import asset
from minclip.tokenizer import BPETokenizer
from minclip.transform import OPENAI_MEAN, OPENAI_STD, preprocess_for  # noqa: F401 (re-exported for older imports)

MINCLIP_FORMAT = "minclip-checkpoint-1"
_EXTRA_KEYS = ("input_resolution", "context_length", "vocab_size")  # stored beside the weights by openai/CLIP

# name -> checkpoint shipped in the package's assets/models (trained by scripts/train_shipped_model.py on 2 CPU cores
# and by scripts/gpu_figures.py on one GPU; its JSON
# file beside it records the command, settings, timings and test figures)
_MODELS: dict[str, Path] = {name: asset(f"models/{name}.safetensors")
                             for name in ("fashion-scenes-cpu", "fashion-mnist-cpu", "fashion-mnist-gpu")}


def available_models() -> list[str]:
    """Names `load` accepts besides paths and hub ids: the checkpoints shipped with minclip, then OpenAI's nine
    released models under openai/CLIP's names (downloaded on first use)."""
    return sorted(name for name, path in _MODELS.items() if path.exists()) + list(OPENAI_MODELS)


# ----------------------------------------------------------------------------------------------------------
# minclip's own format


def save_checkpoint(model: CLIP, path: str | Path, metadata: dict[str, str] | None = None) -> None:
    """Write `model` as safetensors, with its config and tokenizer (merges) in the file's metadata."""
    tok = model.tokenizer
    meta = {"format": MINCLIP_FORMAT, "config": json.dumps(model.config.to_dict())}
    if tok is not None:
        meta["tokenizer_merges"] = "\n".join(f"{a} {b}" for a, b in tok.merges)
        meta["tokenizer_special"] = " ".join(tok.special_tokens)
    meta.update(metadata or {})
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    save_file(state, str(path), metadata=meta)


def _read_safetensors(path: Path):
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            state = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as err:  # noqa: BLE001 (safetensors raises its own error type for damaged files)
        raise ValueError(f"{path}: not a readable safetensors file ({err})") from None
    config = tokenizer = None
    if meta.get("format") == MINCLIP_FORMAT:
        try:
            config = CLIPConfig(**json.loads(meta["config"]))
            if "tokenizer_merges" in meta:
                merges = [tuple(line.split(" ")) for line in meta["tokenizer_merges"].split("\n") if line]
                tokenizer = BPETokenizer(merges, meta["tokenizer_special"].split())
        except (KeyError, TypeError, ValueError) as err:
            raise ValueError(f"{path}: damaged minclip metadata ({type(err).__name__}: {err})") from None
    return state, config, tokenizer


# ----------------------------------------------------------------------------------------------------------
# TorchScript archives, read without running them


class _ScriptObject:
    """Stands in for a pickled TorchScript module: keeps its attributes, runs nothing."""

    def __setstate__(self, state):
        self.__dict__["state"] = state if isinstance(state, dict) else {}


_STORAGE_DTYPES = {
    "FloatStorage": torch.float32, "HalfStorage": torch.float16, "BFloat16Storage": torch.bfloat16,
    "DoubleStorage": torch.float64, "LongStorage": torch.int64, "IntStorage": torch.int32,
    "ShortStorage": torch.int16, "CharStorage": torch.int8, "ByteStorage": torch.uint8, "BoolStorage": torch.bool,
}


class _Refused(pickle.UnpicklingError):
    """A pickle asked for something other than tensors."""


class _TensorsOnlyUnpickler(pickle.Unpickler):
    _allowed = {("torch._utils", "_rebuild_tensor_v2"), ("collections", "OrderedDict")}

    def __init__(self, file, archive: zipfile.ZipFile, prefix: str):
        super().__init__(file)
        self.archive, self.prefix = archive, prefix

    def find_class(self, module, name):
        if module.startswith("__torch__.") or module == "__torch__":
            return type(name, (_ScriptObject,), {})
        if (module, name) in self._allowed:
            return getattr(__import__(module, fromlist=[name]), name)
        if module == "torch" and name in _STORAGE_DTYPES:
            return name  # persistent_load turns the storage's name into its dtype
        raise _Refused(f"refusing to load {module}.{name}: only tensors may come from a checkpoint")

    def persistent_load(self, pid):
        kind, storage_type, key, _location, numel = pid
        if kind != "storage":
            raise pickle.UnpicklingError(f"unknown persistent id {kind!r}")
        data = self.archive.read(f"{self.prefix}data/{key}")
        dtype = _STORAGE_DTYPES[storage_type]
        storage = torch.UntypedStorage.from_buffer(data, dtype=torch.uint8) if data else torch.UntypedStorage(0)
        return torch.storage.TypedStorage(wrap_storage=storage, dtype=dtype, _internal=True)


def _collect(obj, prefix: str, out: dict):
    for name, value in obj.state.items():
        if isinstance(value, torch.Tensor):
            out[prefix + name] = value
        elif isinstance(value, _ScriptObject):
            _collect(value, f"{prefix}{name}.", out)


def _read_torchscript(path: Path, archive: zipfile.ZipFile) -> dict:
    pkl = [n for n in archive.namelist() if n.endswith("data.pkl") and n.count("/") == 1]
    if not pkl:
        raise ValueError(f"{path}: a zip archive without data.pkl is not a PyTorch checkpoint")
    prefix = pkl[0][: -len("data.pkl")]
    try:
        with archive.open(pkl[0]) as f:
            root = _TensorsOnlyUnpickler(f, archive, prefix).load()
        state: dict = {}
        _collect(root, "", state)
    except _Refused as err:
        raise ValueError(f"{path}: refused: {err}; minclip never executes code from a checkpoint") from None
    except Exception as err:  # noqa: BLE001 (a damaged archive fails in many ways)
        raise ValueError(f"{path}: not a readable TorchScript archive ({type(err).__name__}: {err})") from None
    # TorchScript keeps plain tensor attributes (the attention masks) beside parameters and buffers
    return {k: v for k, v in state.items() if not k.endswith("attn_mask")}


# ----------------------------------------------------------------------------------------------------------
# any checkpoint


def read_checkpoint(path: str | Path) -> tuple[dict, CLIPConfig | None, BPETokenizer | None]:
    """(state dict in OpenAI's layout, config if the file has one, tokenizer if the file has one)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint file at {path}")
    with open(path, "rb") as f:
        head = f.read(16)
    if len(head) >= 9 and head[8:9] == b"{":  # safetensors: 8-byte header length, then JSON
        return _read_safetensors(path)
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            if any("/code/" in n for n in archive.namelist()):
                return _read_torchscript(path, archive), None, None
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 (torch raises many types for a file that is no checkpoint)
        found = re.search(r"GLOBAL ([\w.]+)", str(err))  # the weights-only unpickler names what it blocked
        if found:
            raise ValueError(f"{path}: refused: the file holds pickled code or objects ({found.group(1)}), not only "
                             "tensors, and minclip never executes code from a checkpoint") from None
        raise ValueError(f"{path}: not a readable PyTorch checkpoint ({type(err).__name__})") from None
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):  # open_clip's training checkpoints
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ValueError(f"{path}: expected a state dict (names -> tensors), got {type(obj).__name__}")
    if obj and all(k.startswith("module.") for k in obj):  # saved from DistributedDataParallel
        obj = {k.removeprefix("module."): v for k, v in obj.items()}
    return obj, None, None


def load(name_or_path: str | Path, device: str | torch.device | None = None, jit: bool = False,
         download_root: str | Path | None = None, progress: bool | Progress = True) -> tuple[CLIP, transforms.Compose]:
    """Load a CLIP by name or path; return (model in eval mode, preprocess), as openai/CLIP's `clip.load` does.

    `name_or_path`: a name from `available_models()` (OpenAI's are downloaded into `download_root`, by default
    openai/CLIP's ~/.cache/clip, with a progress bar unless `progress=False`); a checkpoint file; a folder in
    OpenCLIP's or transformers' layout; or a Hugging Face hub id ('hf-hub:ORG/NAME' or a transformers 'ORG/NAME',
    cached by huggingface_hub, or in `download_root` when given). `jit=True` is refused: minclip never runs
    TorchScript. The model is float32 on any device.
    """
    if jit:
        raise ValueError("jit=True would run the TorchScript code inside OpenAI's files; minclip reads only their "
                         "tensors and builds its own model: use jit=False")
    name = str(name_or_path)
    config = tokenizer = None
    if name in _MODELS:
        path = _MODELS[name]
    elif name in OPENAI_MODELS:
        path = download(name, download_root, progress)
    elif isinstance(name_or_path, str) and hf.is_hub_id(name):  # a Path is always a path
        path = hf.hub_download(name, cache_dir=download_root)
    else:
        path = Path(name_or_path)
    if hf.is_model_dir(path):
        state, config = hf.read_model_dir(path)
    elif path.is_file():
        state, config, tokenizer = read_checkpoint(path)
    else:
        raise FileNotFoundError(f"{name!r} is neither a model name ({available_models()}), a checkpoint file, an "
                                "OpenCLIP or transformers folder, nor a hub id (hf-hub:ORG/NAME)")
    state = {k: v for k, v in state.items() if k not in _EXTRA_KEYS}
    try:
        model = build_model(state, config=config, tokenizer=tokenizer)
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from None
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    model = model.to(device).eval()
    return model, preprocess_for(model.config.image_resolution)
