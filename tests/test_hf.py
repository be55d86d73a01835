"""OpenCLIP and Hugging Face transformers models, saved in their own formats by the reference libraries with small
random configs, load through minclip.load and give the reference library's outputs, with both activations."""

import json

import pytest
import torch

import minclip
from minclip import hf

open_clip = pytest.importorskip("open_clip")

REL_TOL = 1e-4


def rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a - b).abs().max() / a.abs().max()).item()


def inputs(model, resolution):
    torch.manual_seed(1)
    return torch.randn(3, 3, resolution, resolution), model.tokenize(["a dog", "a photo of a cat", "an ankle boot"])


# ----------------------------------------------------------------------------------------------------------
# OpenCLIP


def open_clip_model(quick_gelu: bool, **vision):
    vision_cfg = dict(layers=2, width=96, head_width=32, patch_size=8, image_size=32, **vision)
    text_cfg = dict(context_length=77, vocab_size=49408, width=64, heads=2, layers=2)
    torch.manual_seed(0)
    model = open_clip.model.CLIP(48, vision_cfg, text_cfg, quick_gelu=quick_gelu).eval()
    model.visual.image_mean, model.visual.image_std = open_clip.OPENAI_DATASET_MEAN, open_clip.OPENAI_DATASET_STD
    return model, dict(embed_dim=48, quick_gelu=quick_gelu, vision_cfg=vision_cfg, text_cfg=text_cfg)


def save_open_clip(model, model_cfg, folder, safetensors=True):
    """The files open_clip's push_to_hf_hub uploads (its save_for_hf, without the tokenizer files)."""
    from open_clip.push_to_hf_hub import save_config_for_hf

    folder.mkdir(parents=True, exist_ok=True)
    if safetensors:
        from safetensors.torch import save_file

        save_file(model.state_dict(), folder / "open_clip_model.safetensors")
    else:
        torch.save(model.state_dict(), folder / "open_clip_pytorch_model.bin")
    save_config_for_hf(model, folder / "open_clip_config.json", model_config=model_cfg)
    return folder


@pytest.mark.parametrize("quick_gelu", [True, False], ids=["quickgelu", "gelu"])
def test_open_clip_folder_equals_open_clip(tmp_path, quick_gelu):
    """A LAION-style model (GELU, or QuickGELU), a 32-wide head and a 2.5x MLP as in ViT-H/14 and ViT-bigG/14."""
    ref, cfg = open_clip_model(quick_gelu, mlp_ratio=2.5)
    model, preprocess = minclip.load(save_open_clip(ref, cfg, tmp_path / "oc"), device="cpu")
    assert model.config.activation == ("quick_gelu" if quick_gelu else "gelu")
    assert model.config.vision_heads == 3 and model.config.vision_mlp_ratio == 2.5
    images, tokens = inputs(model, 32)
    with torch.no_grad():
        assert rel_err(ref.encode_image(images), model.encode_image(images)) < REL_TOL
        assert rel_err(ref.encode_text(tokens), model.encode_text(tokens)) < REL_TOL
        image_features, text_features, scale = ref(images, tokens)  # normalised, and exp(logit_scale)
        assert rel_err(scale * image_features @ text_features.t(), model(images, tokens)[0]) < REL_TOL


def test_activation_comes_from_the_config(tmp_path):
    """The same weights read as the other activation give other numbers: the config, not a default, decides."""
    ref, cfg = open_clip_model(quick_gelu=False)
    folder = save_open_clip(ref, cfg, tmp_path / "oc", safetensors=False)
    gelu, _ = minclip.load(folder, device="cpu")
    cfg["quick_gelu"] = True
    (folder / "open_clip_config.json").write_text(json.dumps({"model_cfg": cfg}))
    quick, _ = minclip.load(folder, device="cpu")
    _, tokens = inputs(gelu, 32)
    with torch.no_grad():
        assert rel_err(ref.encode_text(tokens), gelu.encode_text(tokens)) < REL_TOL
        assert rel_err(ref.encode_text(tokens), quick.encode_text(tokens)) > 1e-3


def test_open_clip_features_minclip_lacks_are_refused(tmp_path):
    ref, cfg = open_clip_model(quick_gelu=False)
    cfg["vision_cfg"]["final_ln_after_pool"] = True
    with pytest.raises(ValueError, match="final_ln_after_pool"):
        minclip.load(save_open_clip(ref, cfg, tmp_path / "oc"), device="cpu")


def fake_hub_cache(cache, repo, files):
    """huggingface_hub's cache layout, as a download leaves it: models--ORG--NAME/{refs/main, snapshots/REV/...}."""
    root = cache / f"models--{repo.replace('/', '--')}"
    revision = "0123456789abcdef0123456789abcdef01234567"
    (root / "refs").mkdir(parents=True)
    (root / "refs" / "main").write_text(revision)
    snapshot = root / "snapshots" / revision
    snapshot.mkdir(parents=True)
    for f in files:
        (snapshot / f.name).write_bytes(f.read_bytes())
    return snapshot


def test_hub_names_read_huggingface_hubs_cache(tmp_path, monkeypatch):
    """'hf-hub:ORG/NAME' (OpenCLIP's spelling) and a bare transformers id resolve through huggingface_hub; offline
    (as here) it serves them from its cache, and a repository it has never seen gets an error saying what to do."""
    hub = pytest.importorskip("huggingface_hub")
    monkeypatch.setattr(hub.constants, "HF_HUB_OFFLINE", True)
    ref, cfg = open_clip_model(quick_gelu=False)
    folder = save_open_clip(ref, cfg, tmp_path / "oc")
    fake_hub_cache(tmp_path / "cache", "laion/tiny-clip", folder.iterdir())
    model, _ = minclip.load("hf-hub:laion/tiny-clip", device="cpu", download_root=tmp_path / "cache")
    images, _ = inputs(model, 32)
    with torch.no_grad():
        assert rel_err(ref.encode_image(images), model.encode_image(images)) < REL_TOL
    with pytest.raises(OSError, match="laion/not-cached.*hf download laion/not-cached"):
        minclip.load("hf-hub:laion/not-cached", download_root=tmp_path / "cache")
    assert hf.is_hub_id("openai/clip-vit-base-patch32") and not hf.is_hub_id("runs/last.pt")
    assert not hf.is_hub_id(str(folder))


# ----------------------------------------------------------------------------------------------------------
# Hugging Face transformers


def transformers_model(act: str):
    transformers = pytest.importorskip("transformers")
    cfg = transformers.CLIPConfig(
        text_config=dict(vocab_size=49408, hidden_size=64, intermediate_size=256, num_attention_heads=2,
                         num_hidden_layers=2, max_position_embeddings=77, eos_token_id=49407, hidden_act=act),
        vision_config=dict(hidden_size=96, intermediate_size=384, num_attention_heads=3, num_hidden_layers=2,
                           image_size=32, patch_size=8, hidden_act=act),
        projection_dim=48)
    torch.manual_seed(0)
    return transformers.CLIPModel(cfg).eval()


def features(output):
    return output if torch.is_tensor(output) else output.pooler_output  # transformers 5 may return a ModelOutput


@pytest.mark.parametrize("act", ["quick_gelu", "gelu"])
def test_transformers_folder_equals_transformers(tmp_path, act):
    ref = transformers_model(act)
    ref.save_pretrained(tmp_path / "hf")
    model, _ = minclip.load(tmp_path / "hf", device="cpu")
    assert model.config.activation == act and model.config.vision_heads == 3 and model.config.transformer_heads == 2
    images, tokens = inputs(model, 32)
    with torch.no_grad():
        assert rel_err(features(ref.get_image_features(pixel_values=images)), model.encode_image(images)) < REL_TOL
        assert rel_err(features(ref.get_text_features(input_ids=tokens)), model.encode_text(tokens)) < REL_TOL
        assert rel_err(ref(input_ids=tokens, pixel_values=images).logits_per_image, model(images, tokens)[0]) < REL_TOL


def test_transformers_hub_id_and_bin_weights(tmp_path, monkeypatch):
    """A bare 'ORG/NAME' is a transformers repository; pytorch_model.bin is read with the weights-only unpickler."""
    hub = pytest.importorskip("huggingface_hub")
    monkeypatch.setattr(hub.constants, "HF_HUB_OFFLINE", True)
    ref = transformers_model("quick_gelu")
    ref.save_pretrained(tmp_path / "hf")
    torch.save(ref.state_dict(), tmp_path / "pytorch_model.bin")
    fake_hub_cache(tmp_path / "cache", "openai/tiny-clip", [tmp_path / "hf" / "config.json",
                                                             tmp_path / "pytorch_model.bin"])
    model, _ = minclip.load("openai/tiny-clip", device="cpu", download_root=tmp_path / "cache")
    _, tokens = inputs(model, 32)
    with torch.no_grad():
        assert rel_err(features(ref.get_text_features(input_ids=tokens)), model.encode_text(tokens)) < REL_TOL


def test_transformers_configs_minclip_cannot_follow_are_refused(tmp_path):
    ref = transformers_model("quick_gelu")
    ref.save_pretrained(tmp_path / "hf")
    config = json.loads((tmp_path / "hf" / "config.json").read_text())
    config["vision_config"]["hidden_act"] = "gelu"
    (tmp_path / "hf" / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="one activation"):
        minclip.load(tmp_path / "hf", device="cpu")
    config["model_type"] = "siglip"
    (tmp_path / "hf" / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="'siglip' model"):
        minclip.load(tmp_path / "hf", device="cpu")


def test_sharded_transformers_checkpoint(tmp_path):
    """Large checkpoints come in shards named by model.safetensors.index.json."""
    ref = transformers_model("gelu")
    ref.save_pretrained(tmp_path / "hf", max_shard_size="1MB")
    assert (tmp_path / "hf" / "model.safetensors.index.json").is_file()
    assert len(list((tmp_path / "hf").glob("model-*.safetensors"))) > 1
    model, _ = minclip.load(tmp_path / "hf", device="cpu")
    images, _ = inputs(model, 32)
    with torch.no_grad():
        assert rel_err(features(ref.get_image_features(pixel_values=images)), model.encode_image(images)) < REL_TOL


def test_unknown_activation_and_mistyped_paths_get_clear_errors(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match=r"activation must be one of \['gelu', 'quick_gelu'\]"):
        minclip.CLIPConfig(embed_dim=64, image_resolution=32, vision_layers=2, vision_width=64, vision_patch_size=8,
                           activation="relu")
    hub = pytest.importorskip("huggingface_hub")
    monkeypatch.setattr(hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(OSError, match="'runs/mdoel' \\(read as a hub id: no such file or folder here\\)"):
        minclip.load("runs/mdoel", download_root=tmp_path / "cache")
