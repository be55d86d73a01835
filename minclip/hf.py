"""CLIP weights as OpenCLIP and Hugging Face publish them, read into minclip's model.

Two layouts, each a folder on disk or a repository on the Hugging Face hub:

- OpenCLIP (``hf-hub:laion/CLIP-ViT-B-32-laion2B-s34B-b79K``): ``open_clip_config.json`` beside
  ``open_clip_model.safetensors`` or ``open_clip_pytorch_model.bin``. The weights already use OpenAI's names; the
  config says what the names cannot: GELU or QuickGELU (``quick_gelu``), the head width and MLP ratio of the ViT.
- Hugging Face transformers (``openai/clip-vit-base-patch32``): ``config.json`` beside ``model.safetensors`` (or
  ``pytorch_model.bin``, or shards with an index). Its ``CLIPModel`` is OpenAI's ViT CLIP under other names
  (``q_proj``/``k_proj``/``v_proj`` instead of one ``in_proj_weight``, ``fc1`` for ``c_fc``, projections stored
  as ``nn.Linear`` weights, i.e. transposed); `transformers_to_openai` renames and reshapes, and the config
  gives the activation (``hidden_act``), the widths and the head counts.

Hub downloads go through ``huggingface_hub`` (its cache, its offline mode) when it is installed. Nothing from any
file is executed: safetensors hold only tensors and ``.bin`` files go through PyTorch's weights-only unpickler.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import torch
from safetensors.torch import load_file

from minclip.model import CLIPConfig, config_from_state_dict

OPEN_CLIP_FILES = ("open_clip_config.json", "open_clip_model.safetensors", "open_clip_pytorch_model.bin")
TRANSFORMERS_FILES = ("config.json", "model.safetensors", "pytorch_model.bin", "model.safetensors.index.json",
                      "pytorch_model.bin.index.json")
HUB_PREFIX = "hf-hub:"
_REPO_ID = re.compile(r"^[\w.-]+/[\w.-]+$")
_FILE_SUFFIXES = (".pt", ".pth", ".bin", ".safetensors", ".ckpt")


def is_hub_id(name: str) -> bool:
    """'hf-hub:ORG/NAME' (OpenCLIP's spelling) or a bare 'ORG/NAME' (transformers') that is not a local path
    nor the name of a checkpoint file."""
    bare = _REPO_ID.match(name) is not None and not Path(name).exists() and Path(name).suffix not in _FILE_SUFFIXES
    return name.startswith(HUB_PREFIX) or bare


def is_model_dir(path: Path) -> bool:
    return path.is_dir() and any((path / f).is_file() for f in (OPEN_CLIP_FILES[0], TRANSFORMERS_FILES[0]))


# ----------------------------------------------------------------------------------------------------------
# the hub


def hub_download(name: str, cache_dir: str | Path | None = None) -> Path:
    """Fetch a hub repository's config and weights (OpenCLIP's files first for 'hf-hub:', else transformers');
    return the local folder that holds them. Offline, huggingface_hub serves what its cache holds."""
    repo = name.removeprefix(HUB_PREFIX)
    # a bare ORG/NAME may be a mistyped local path: say how it was read
    how = f"{name!r} (read as a hub id: no such file or folder here)" if repo == name else repr(name)
    try:
        from huggingface_hub import hf_hub_download  # optional: only hub names need it
        from huggingface_hub.errors import EntryNotFoundError, LocalEntryNotFoundError
    except ImportError:
        raise ImportError(f"loading {how} from the Hugging Face hub needs huggingface_hub: "
                          "pip install huggingface_hub (or download the repository and pass its folder)") from None
    offline = None  # the last "not in the cache and no connection" error

    def fetch(filename: str) -> Path | None:
        nonlocal offline
        try:
            return Path(hf_hub_download(repo, filename, cache_dir=cache_dir))
        except LocalEntryNotFoundError as err:
            offline = err
        except EntryNotFoundError:
            pass  # the repository does not hold this file
        except Exception as err:  # noqa: BLE001 (authentication, missing repositories, network errors)
            raise OSError(f"could not fetch {filename} of {how} from the Hugging Face hub ({type(err).__name__}:"
                          f" {err}); {_OFFLINE_ADVICE.format(repo=repo)}") from None
        return None

    layouts = (OPEN_CLIP_FILES, TRANSFORMERS_FILES)
    for files in layouts if name.startswith(HUB_PREFIX) else layouts[::-1]:
        config = fetch(files[0])
        weights = next((w for w in map(fetch, files[1:]) if w is not None), None) if config else None
        if weights is not None:
            for shard in _shards(weights):
                fetch(shard)
            return config.parent
    if offline is not None:
        raise OSError(f"{how} is not in huggingface_hub's cache and the hub cannot be reached ({offline}); "
                      f"{_OFFLINE_ADVICE.format(repo=repo)}")
    raise OSError(f"{how} on the hub holds neither an OpenCLIP model ({OPEN_CLIP_FILES[0]} and weights) nor a "
                  f"transformers one ({TRANSFORMERS_FILES[0]} and weights)")


_OFFLINE_ADVICE = ("on a machine without internet, download the repository elsewhere (`hf download {repo} --local-dir "
                   "FOLDER`) and pass that folder to minclip.load")


def _shards(path: Path) -> list[str]:
    """The shard files an index (model.safetensors.index.json) names; [] for a weights file."""
    if not path.name.endswith(".index.json"):
        return []
    return sorted(set(json.loads(path.read_text())["weight_map"].values()))


# ----------------------------------------------------------------------------------------------------------
# reading a folder


def _read_weights(path: Path) -> dict[str, torch.Tensor]:
    if path.name.endswith(".index.json"):
        state: dict = {}
        for shard in _shards(path):
            state.update(_read_weights(path.parent / shard))
        return state
    if path.suffix == ".safetensors":
        return load_file(str(path))
    return torch.load(path, map_location="cpu", weights_only=True)


def _first(folder: Path, names: tuple[str, ...]) -> Path:
    for name in names:
        if (folder / name).is_file():
            return folder / name
    raise FileNotFoundError(f"{folder}: no weights file; expected one of {list(names)}")


def read_model_dir(folder: str | Path) -> tuple[dict, CLIPConfig]:
    """(state dict in OpenAI's layout, config) of an OpenCLIP or transformers folder."""
    folder = Path(folder)
    if (folder / OPEN_CLIP_FILES[0]).is_file():
        state = _read_weights(_first(folder, OPEN_CLIP_FILES[1:]))
        cfg = json.loads((folder / OPEN_CLIP_FILES[0]).read_text())
        return state, open_clip_config(cfg.get("model_cfg", cfg), state)
    cfg = json.loads((folder / TRANSFORMERS_FILES[0]).read_text())
    if cfg.get("model_type") != "clip":
        raise ValueError(f"{folder}: config.json describes a {cfg.get('model_type')!r} model; minclip reads CLIP "
                         "(model_type 'clip') and OpenCLIP folders")
    state = transformers_to_openai(_read_weights(_first(folder, TRANSFORMERS_FILES[1:])))
    return state, transformers_config(cfg, state)


# ----------------------------------------------------------------------------------------------------------
# OpenCLIP


# OpenCLIP options that change the computation without changing the weights' names: minclip has none of them
_OPEN_CLIP_UNSUPPORTED = ("timm_model_name", "hf_model_name", "attentional_pool", "final_ln_after_pool", "no_ln_pre",
                          "no_causal_mask", "pos_embed_type", "act_kwargs", "norm_kwargs", "attn_pooler_queries")


def open_clip_config(model_cfg: dict, state: dict) -> CLIPConfig:
    """The architecture: shapes from the weights, and from OpenCLIP's config what shapes cannot tell."""
    vision, text = model_cfg.get("vision_cfg", {}), model_cfg.get("text_cfg", {})
    odd = [k for cfg in (vision, text) for k in _OPEN_CLIP_UNSUPPORTED if cfg.get(k)]
    odd += [f"pool_type={cfg['pool_type']}" for cfg in (vision, text)
            if cfg.get("pool_type", "tok") not in ("tok", "argmax")]
    if odd or model_cfg.get("custom_text"):
        raise ValueError(f"this OpenCLIP model uses {odd or ['custom_text']}, which minclip's CLIP (OpenAI's "
                         "architecture) does not have")
    base = config_from_state_dict(state)
    heads = text.get("heads", base.transformer_heads)
    return replace(base, activation="quick_gelu" if model_cfg.get("quick_gelu") else "gelu", transformer_heads=heads,
                   vision_head_width=vision.get("head_width", 64), vision_mlp_ratio=vision.get("mlp_ratio", 4.0))


# ----------------------------------------------------------------------------------------------------------
# Hugging Face transformers

_RENAMES = [  # (transformers' name pattern, OpenAI's name), applied in order
    (r"^text_model\.embeddings\.token_embedding\.", "token_embedding."),
    (r"^text_model\.embeddings\.position_embedding\.weight$", "positional_embedding"),
    (r"^text_model\.encoder\.layers\.", "transformer.resblocks."),
    (r"^text_model\.final_layer_norm\.", "ln_final."),
    (r"^vision_model\.embeddings\.class_embedding$", "visual.class_embedding"),
    (r"^vision_model\.embeddings\.patch_embedding\.", "visual.conv1."),
    (r"^vision_model\.embeddings\.position_embedding\.weight$", "visual.positional_embedding"),
    (r"^vision_model\.pre_layrnorm\.", "visual.ln_pre."),
    (r"^vision_model\.encoder\.layers\.", "visual.transformer.resblocks."),
    (r"^vision_model\.post_layernorm\.", "visual.ln_post."),
    (r"\.self_attn\.out_proj\.", ".attn.out_proj."),
    (r"\.layer_norm1\.", ".ln_1."),
    (r"\.layer_norm2\.", ".ln_2."),
    (r"\.mlp\.fc1\.", ".mlp.c_fc."),
    (r"\.mlp\.fc2\.", ".mlp.c_proj."),
]


def transformers_to_openai(state: dict) -> dict:
    """A transformers CLIPModel state dict under OpenAI's names and layout."""
    out, qkv = {}, {}
    for key, value in state.items():
        if key.endswith("position_ids"):  # a buffer of 0..T-1 that older transformers saved
            continue
        if key in ("text_projection.weight", "visual_projection.weight"):  # nn.Linear (D, C) -> parameter (C, D)
            out["text_projection" if key.startswith("text") else "visual.proj"] = value.t().contiguous()
            continue
        for pattern, new in _RENAMES:
            key = re.sub(pattern, new, key)
        found = re.match(r"^(.*)\.self_attn\.([qkv])_proj\.(weight|bias)$", key)
        if found:  # three projections -> one in_proj of (3C, C), in the order q, k, v
            qkv.setdefault((found[1], found[3]), {})[found[2]] = value
        else:
            out[key] = value
    for (prefix, kind), parts in qkv.items():
        out[f"{prefix}.attn.in_proj_{kind}"] = torch.cat([parts["q"], parts["k"], parts["v"]])
    return out


def transformers_config(cfg: dict, state: dict) -> CLIPConfig:
    """CLIPConfig of a transformers CLIPModel: shapes from the weights, activation and heads from config.json."""
    text, vision = cfg.get("text_config") or {}, cfg.get("vision_config") or {}
    acts = {text.get("hidden_act", "quick_gelu"), vision.get("hidden_act", "quick_gelu")}
    if len(acts) != 1 or not acts <= {"quick_gelu", "gelu"}:
        raise ValueError(f"minclip's CLIP uses one activation, quick_gelu or gelu, in both towers; this config has "
                         f"{sorted(acts)}")
    base = config_from_state_dict(state)
    eos = text.get("eos_token_id", 2)
    if eos not in (2, base.vocab_size - 1):  # transformers pools at argmax(ids) for 2 (old configs), else at eos
        raise ValueError(f"the text model pools at token {eos}; minclip pools at the largest id, the end-of-text "
                         f"token {base.vocab_size - 1} of OpenAI's vocabulary")
    width, vwidth = base.transformer_width, base.vision_width
    if text.get("intermediate_size", 4 * width) != 4 * width:
        raise ValueError(f"the text MLP is {text['intermediate_size']} wide; minclip's is 4 x {width}")
    heads, vheads = text.get("num_attention_heads", 8), vision.get("num_attention_heads", 12)
    for eps in (text.get("layer_norm_eps", 1e-5), vision.get("layer_norm_eps", 1e-5)):
        if abs(eps - 1e-5) > 1e-12:
            raise ValueError(f"layer_norm_eps={eps}; minclip's LayerNorm uses OpenAI's 1e-5")
    return replace(base, activation=acts.pop(), transformer_heads=heads, vision_head_width=vwidth // vheads,
                   vision_mlp_ratio=vision.get("intermediate_size", 4 * vwidth) / vwidth)
