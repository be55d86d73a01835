"""The model against open_clip's QuickGELU models (OpenAI's architectures) with random weights, and its parts
against PyTorch's own modules."""

import pytest
import torch
from torch import nn

import minclip
from minclip import image_encoders
from minclip.attention import MultiheadAttention, Transformer, attention, causal_mask
from minclip.image_encoders import AttentionPool2d
from minclip.model import CLIP, CLIPConfig, build_model, config_from_state_dict
from tests.corpus import captions

open_clip = pytest.importorskip("open_clip")


def relative_error(a, b):
    return ((a.float() - b.float()).norm() / b.float().norm()).item()


def randomise_batchnorm(model, generator):
    """Give every BatchNorm non-trivial statistics and affine parameters, so eval mode is really tested."""
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.copy_(torch.rand(m.running_mean.shape, generator=generator) - 0.5)
            m.running_var.copy_(torch.rand(m.running_var.shape, generator=generator) + 0.5)
            m.weight.data.copy_(torch.rand(m.weight.shape, generator=generator) + 0.5)
            m.bias.data.copy_(torch.rand(m.bias.shape, generator=generator) - 0.5)


@pytest.fixture(scope="module", params=[
    ("RN50-quickgelu", CLIPConfig.rn50(), 102_007_137, 489),
    ("ViT-B-32-quickgelu", CLIPConfig.vit_b_32(), 151_277_313, 302),
], ids=["RN50", "ViT-B-32"])
def reference(request):
    name, config, n_params, n_keys = request.param
    torch.manual_seed(0)
    model = open_clip.create_model(name, pretrained=None).eval()
    with torch.no_grad():
        randomise_batchnorm(model, torch.Generator().manual_seed(1))
    return model, config, n_params, n_keys


def test_architecture_inferred_from_state_dict(reference):
    model, config, n_params, n_keys = reference
    sd = model.state_dict()
    assert len(sd) == n_keys
    assert config_from_state_dict(sd) == config
    ours = CLIP(config)
    assert sum(p.numel() for p in ours.parameters()) == n_params
    assert set(ours.state_dict()) == set(sd)


@pytest.mark.slow  # full-size RN50 and ViT-B/32 against open_clip: tens of seconds each
@pytest.mark.parametrize("layout", ["openai", "open_clip_training"])
def test_same_numbers_as_open_clip(reference, tmp_path, layout):
    """Saved as a state dict (OpenAI's layout, or open_clip's {"state_dict": {"module." + name}}), loaded
    through minclip.load: the same features and logits as open_clip's model."""
    model, config, _, _ = reference
    sd = model.state_dict()
    if layout == "open_clip_training":
        sd = {"epoch": 3, "state_dict": {"module." + k: v for k, v in sd.items()}}
    torch.save(sd, tmp_path / "model.pt")
    ours, preprocess = minclip.load(tmp_path / "model.pt", device="cpu")
    (tmp_path / "model.pt").unlink()  # up to 600 MB: not kept even when the comparison below fails
    assert ours.config == config and not ours.training
    torch.manual_seed(2)
    images = torch.randn(3, 3, 224, 224)
    texts = ["a photo of a dog.", "a diagram", "an ankle boot on a white background, product photo"]
    tokens = open_clip.tokenize(texts)
    assert torch.equal(ours.tokenize(texts), tokens)
    with torch.no_grad():
        assert relative_error(ours.encode_image(images), model.encode_image(images)) < 1e-4
        assert relative_error(ours.encode_text(tokens), model.encode_text(tokens)) < 1e-4
        logits_per_image, logits_per_text = ours(images, tokens)
        image_features, text_features, scale = model(images, tokens)[:3]
        expected = scale * image_features @ text_features.t()
    assert relative_error(logits_per_image, expected) < 1e-4
    torch.testing.assert_close(logits_per_text, logits_per_image.t())


def test_build_model_names_what_does_not_fit(reference):
    model, _, _, _ = reference
    sd = dict(model.state_dict())
    del sd["ln_final.bias"]
    sd["extra.weight"] = torch.zeros(1)
    with pytest.raises(ValueError, match=r"missing keys \['ln_final.bias'\].*unexpected keys \['extra.weight'\]"):
        build_model(sd)
    sd = dict(model.state_dict())
    sd["text_projection"] = torch.zeros(512, 7)
    config = config_from_state_dict(model.state_dict())
    with pytest.raises(ValueError, match=r"text_projection: checkpoint \(512, 7\) vs model \(512, \d+\)"):
        build_model(sd, config=config)
    with pytest.raises(ValueError, match="not a CLIP state dict"):
        build_model({"weight": torch.zeros(3)})


# -- the parts --------------------------------------------------------------------------------------------


def test_attention_equals_pytorch_multihead_attention():
    torch.manual_seed(0)
    ours, ref = MultiheadAttention(64, 4), nn.MultiheadAttention(64, 4, batch_first=True)
    ref.load_state_dict(ours.state_dict())
    x, mask = torch.randn(2, 10, 64), causal_mask(10)
    torch.testing.assert_close(ours(x, x, x, attn_mask=mask), ref(x, x, x, attn_mask=mask, need_weights=False)[0])
    y = torch.randn(2, 3, 64)
    torch.testing.assert_close(ours(y, x, x), ref(y, x, x, need_weights=False)[0])


@pytest.mark.parametrize("masked", [True, False])
def test_bf16_attention_on_cpu_matches_pytorchs_kernel(masked):
    """In bfloat16 on a CPU, attention() writes the formula out (faster there); values and gradients agree with
    F.scaled_dot_product_attention to bfloat16's precision, and the mask still hides the future."""
    torch.manual_seed(0)
    q, k, v = (torch.randn(3, 2, 12, 16, dtype=torch.bfloat16, requires_grad=True) for _ in range(3))
    mask = causal_mask(12).to(torch.bfloat16) if masked else None
    ours = attention(q, k, v, mask)
    grads = torch.autograd.grad(ours.float().square().sum(), (q, k, v))
    ref = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    ref_grads = torch.autograd.grad(ref.float().square().sum(), (q, k, v))
    assert ours.dtype == torch.bfloat16 and relative_error(ours, ref) < 0.02
    assert all(relative_error(g, r) < 0.05 for g, r in zip(grads, ref_grads))
    if masked:  # the first position attends to itself alone
        torch.testing.assert_close(ours[:, :, 0], v[:, :, 0])


def test_causal_mask_hides_the_future():
    torch.manual_seed(0)
    model, mask = Transformer(32, 2, 4).eval(), causal_mask(8)
    x = torch.randn(1, 8, 32)
    changed = x.clone()
    changed[:, 5:] = torch.randn(1, 3, 32)
    out, out_changed = model(x, mask), model(changed, mask)
    torch.testing.assert_close(out[:, :5], out_changed[:, :5])
    assert not torch.allclose(out[:, 5:], out_changed[:, 5:])


def test_attention_pool_weights():
    torch.manual_seed(0)
    pool = AttentionPool2d(spacial_dim=4, embed_dim=64, num_heads=4, output_dim=32)
    x = torch.randn(2, 64, 4, 4)
    out, att = pool(x, return_attention=True)
    assert out.shape == (2, 32) and att.shape == (2, 4, 17)
    torch.testing.assert_close(att.sum(-1), torch.ones(2, 4))
    torch.testing.assert_close(out, pool(x))


def test_cpu_preset_and_its_tokenizer():
    config = CLIPConfig.cpu()
    tokenizer = minclip.BPETokenizer.train(captions(), vocab_size=config.vocab_size)
    model = CLIP(config, tokenizer=tokenizer).eval()
    assert model.visual.attnpool.positional_embedding.shape[0] == 4 * 4 + 1  # a 4x4 grid to attend over
    tokens = model.tokenize(["a red sneaker", "a black ankle boot"])
    assert tokens.shape == (2, 32) and tokens.max() == config.vocab_size - 1
    logits_per_image, _ = model(torch.randn(2, 3, 128, 128), tokens)
    assert logits_per_image.shape == (2, 2)
    torch.testing.assert_close(model.logit_scale.exp(), torch.tensor(1 / 0.07))
    with pytest.raises(ValueError, match="no tokenizer attached"):
        CLIP(config).tokenize("a red sneaker")
    with pytest.raises(ValueError, match="reads 32"):
        model.encode_text(minclip.tokenize("a red sneaker", tokenizer=tokenizer))


def test_config_fields_are_named_at_construction():
    # a row of bare numbers is refused: each field is named, so a reader can check it against openai/CLIP's
    with pytest.raises(TypeError):
        CLIPConfig(1024, 224, (3, 4, 6, 3), 64, None)
    named = CLIPConfig(embed_dim=1024, image_resolution=224, vision_layers=(3, 4, 6, 3), vision_width=64,
                       vision_patch_size=None)
    assert named == CLIPConfig.rn50() and named.vision_heads == 32


def test_attention_pool_sits_beside_the_resnet_that_uses_it():
    pool = CLIP(CLIPConfig.cpu()).visual.attnpool
    assert type(pool) is AttentionPool2d and AttentionPool2d.__module__ == image_encoders.__name__


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision_forward(dtype):
    torch.manual_seed(0)
    config = CLIPConfig(embed_dim=64, image_resolution=64, vision_layers=2, vision_width=64, vision_patch_size=16,
                        context_length=16, vocab_size=49408, transformer_width=64,
                        transformer_heads=1, transformer_layers=2)
    model = CLIP(config).eval()
    images, tokens = torch.randn(2, 3, 64, 64), model.tokenize(["a dog", "a cat"])
    with torch.no_grad():
        full = model(images, tokens)[0]
        half = model.to(dtype)(images, tokens)[0]
    assert half.dtype == dtype and torch.isfinite(half).all()
    assert relative_error(half, full) < 0.05
