"""The CLIP model: an image encoder and a text encoder projected into one embedding space.

Follows Radford et al. 2021 (sections 2.3-2.5, figure 3) and the constructor of openai/CLIP's model.py,
whose arguments are `CLIPConfig`'s fields, and whose parameter names these modules keep, so OpenAI's and
OpenCLIP's checkpoints load by name. `build_model` reads the architecture off a state dict's keys and shapes.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from minclip.attention import ACTIVATIONS, LayerNorm, Transformer, causal_mask
from minclip.image_encoders import ModifiedResNet, VisionTransformer
from minclip.tokenizer import BPETokenizer, default_tokenizer, tokenize

OPENAI_VOCAB_SIZE = 49408


@dataclass(frozen=True, kw_only=True)
class CLIPConfig:
    """openai/CLIP's constructor arguments. `vision_layers` is a 4-tuple (ResNet) or an int (ViT).

    Keyword-only: every construction names its fields (`CLIPConfig(embed_dim=1024, ...)`), since a row of bare
    numbers such as (1024, 224, (3, 4, 6, 3), 64, None) cannot be read or checked.
    """

    embed_dim: int
    image_resolution: int
    vision_layers: tuple[int, int, int, int] | int
    vision_width: int
    vision_patch_size: int | None  # None: ModifiedResNet; an int: Vision Transformer with that patch size
    context_length: int = 77
    vocab_size: int = OPENAI_VOCAB_SIZE
    transformer_width: int = 512
    transformer_heads: int = 8
    transformer_layers: int = 12
    # beyond openai/CLIP's arguments, for OpenCLIP's and Hugging Face's models (the defaults are OpenAI's)
    activation: str = "quick_gelu"  # or "gelu" (exact), as in OpenCLIP's LAION models
    vision_head_width: int = 64  # OpenCLIP's ViT-H/14 uses 80
    vision_mlp_ratio: float = 4.0  # OpenCLIP's ViT-bigG/14 uses 4.9231

    def __post_init__(self):
        if isinstance(self.vision_layers, list):
            object.__setattr__(self, "vision_layers", tuple(self.vision_layers))
        resnet = self.vision_patch_size is None
        if resnet and (not isinstance(self.vision_layers, tuple) or len(self.vision_layers) != 4):
            raise ValueError(f"a ModifiedResNet needs vision_layers as 4 block counts, got {self.vision_layers!r}")
        if self.vision_patch_size is not None and not isinstance(self.vision_layers, int):
            raise ValueError(f"a Vision Transformer needs vision_layers as an int, got {self.vision_layers!r}")
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {self.activation!r}")

    @property
    def vision_heads(self) -> int:
        """Heads of `vision_head_width` dimensions, 64 by OpenAI's rule (the ResNet's attention pool works on
        32 * width features)."""
        width = self.vision_width * 32 if self.vision_patch_size is None else self.vision_width
        return width // self.vision_head_width

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def rn50(cls) -> CLIPConfig:
        """OpenAI's RN50 (102,007,137 parameters); a GPU-sized model."""
        return cls(embed_dim=1024, image_resolution=224, vision_layers=(3, 4, 6, 3), vision_width=64,
                   vision_patch_size=None)

    @classmethod
    def vit_b_32(cls) -> CLIPConfig:
        """OpenAI's ViT-B/32 (151,277,313 parameters); a GPU-sized model."""
        return cls(embed_dim=512, image_resolution=224, vision_layers=12, vision_width=768, vision_patch_size=32)

    @classmethod
    def cpu(cls, **overrides) -> CLIPConfig:
        """The book's CPU-sized ModifiedResNet CLIP: 128x128 images give a 4x4 grid to the attention pool;
        the text side reads the book's 2,048-token vocabulary (chapter 1) with a context of 32. Fields can be
        overridden: the scenes model reads 64x64 images (minclip.train_cli.model_config)."""
        return cls(**{"embed_dim": 128, "image_resolution": 128, "vision_layers": (1, 1, 1, 1), "vision_width": 16,
                      "vision_patch_size": None, "context_length": 32, "vocab_size": 2048, "transformer_width": 128,
                      "transformer_heads": 2, "transformer_layers": 4, **overrides})


PRESETS = {"cpu": CLIPConfig.cpu, "rn50": CLIPConfig.rn50, "vit_b_32": CLIPConfig.vit_b_32}


class CLIP(nn.Module):
    """encode_image: (B, 3, R, R) -> (B, D); encode_text: (B, T) ids -> (B, D);
    forward: (logits_per_image (B_img, B_txt), logits_per_text (B_txt, B_img)) of scaled cosine similarities."""

    def __init__(self, config: CLIPConfig, tokenizer: BPETokenizer | None = None):
        super().__init__()
        self.config = c = config
        if c.vision_patch_size is None:
            self.visual = ModifiedResNet(c.vision_layers, c.embed_dim, c.vision_heads, c.image_resolution,
                                         c.vision_width)
        else:
            self.visual = VisionTransformer(c.image_resolution, c.vision_patch_size, c.vision_width,
                                            c.vision_layers, c.vision_heads, c.embed_dim, c.activation,
                                            c.vision_mlp_ratio)
        self.transformer = Transformer(c.transformer_width, c.transformer_layers, c.transformer_heads,
                                       c.activation)
        self.token_embedding = nn.Embedding(c.vocab_size, c.transformer_width)
        self.positional_embedding = nn.Parameter(torch.empty(c.context_length, c.transformer_width))
        self.ln_final = LayerNorm(c.transformer_width)
        self.text_projection = nn.Parameter(torch.empty(c.transformer_width, c.embed_dim))
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))  # temperature 0.07, learned in log space
        self.register_buffer("attn_mask", causal_mask(c.context_length), persistent=False)
        self.tokenizer = tokenizer
        self.initialize_parameters()

    def initialize_parameters(self):
        """openai/CLIP's initialisation: small normal embeddings; residual projections scaled by depth."""
        nn.init.normal_(self.token_embedding.weight, std=0.02)
        nn.init.normal_(self.positional_embedding, std=0.01)
        if isinstance(self.visual, ModifiedResNet):
            pool = self.visual.attnpool
            for proj in (pool.q_proj, pool.k_proj, pool.v_proj, pool.c_proj):
                nn.init.normal_(proj.weight, std=pool.c_proj.in_features**-0.5)
            for stage in (self.visual.layer1, self.visual.layer2, self.visual.layer3, self.visual.layer4):
                for block in stage:
                    nn.init.zeros_(block.bn3.weight)  # each residual branch starts as the identity
        width, layers = self.transformer.width, self.transformer.layers
        proj_std, attn_std, fc_std = width**-0.5 * (2 * layers) ** -0.5, width**-0.5, (2 * width) ** -0.5
        for block in self.transformer.resblocks:
            nn.init.normal_(block.attn.in_proj_weight, std=attn_std)
            nn.init.normal_(block.attn.out_proj.weight, std=proj_std)
            nn.init.normal_(block.mlp.c_fc.weight, std=fc_std)
            nn.init.normal_(block.mlp.c_proj.weight, std=proj_std)
        nn.init.normal_(self.text_projection, std=width**-0.5)

    @property
    def dtype(self) -> torch.dtype:
        return self.visual.conv1.weight.dtype

    def encode_image(self, image: torch.Tensor) -> torch.Tensor:
        return self.visual(image.to(self.dtype))  # (B, D), not normalised

    def encode_text(self, text: torch.Tensor) -> torch.Tensor:
        if text.shape[-1] != self.config.context_length:
            raise ValueError(f"text has {text.shape[-1]} tokens per row; this model reads "
                             f"{self.config.context_length} (use model.tokenize)")
        eot = text.argmax(dim=-1)  # the end-of-text token has the largest id, so argmax finds it
        # under the causal mask nothing after an end-of-text token reaches it: drop the padding after the last one
        T = int(eot.max()) + 1 if len(text) else 1
        x = self.token_embedding(text[:, :T]).to(self.dtype) + self.positional_embedding[:T].to(self.dtype)
        x = self.ln_final(self.transformer(x, self.attn_mask[:T, :T]))  # (B, T, C)
        x = x[torch.arange(x.shape[0], device=x.device), eot]  # (B, C): the features of the end-of-text token
        return x @ self.text_projection.to(x.dtype)  # (B, D)

    def forward(self, image: torch.Tensor, text: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        image_features = F.normalize(self.encode_image(image), dim=-1)
        text_features = F.normalize(self.encode_text(text), dim=-1)
        logits_per_image = self.logit_scale.exp() * image_features @ text_features.t()  # (B_img, B_txt)
        return logits_per_image, logits_per_image.t()

    def tokenize(self, texts: str | list[str], truncate: bool = False) -> torch.LongTensor:
        """Token ids exactly as this model's text encoder expects them: its tokenizer, its context length."""
        tok = self.tokenizer
        if tok is None:
            if self.config.vocab_size != OPENAI_VOCAB_SIZE:
                raise ValueError(f"this model reads a {self.config.vocab_size}-token vocabulary and has no "
                                 "tokenizer attached: pass one as CLIP(config, tokenizer=...)")
            tok = default_tokenizer()
        if tok.vocab_size != self.config.vocab_size:
            raise ValueError(f"the tokenizer has {tok.vocab_size} tokens but the model expects "
                             f"{self.config.vocab_size}")
        return tokenize(texts, self.config.context_length, truncate=truncate, tokenizer=tok)


# ----------------------------------------------------------------------------------------------------------
# reading the architecture off a checkpoint


def _count(state_dict: dict, prefix: str, depth: int) -> int:
    """Number of distinct indices at `depth` among keys starting with `prefix` ('transformer.resblocks.')."""
    return len({k.split(".")[depth] for k in state_dict if k.startswith(prefix)})


def config_from_state_dict(state_dict: dict) -> CLIPConfig:
    """Infer the CLIPConfig of an OpenAI-layout state dict from its keys and shapes (openai/CLIP's rule)."""
    sd = state_dict
    missing = [k for k in ("text_projection", "positional_embedding", "token_embedding.weight", "ln_final.weight")
               if k not in sd]
    if missing or not any(k.startswith("visual.") for k in sd):
        raise ValueError(f"not a CLIP state dict: missing {missing or ['visual.*']}")
    if "visual.proj" in sd:  # Vision Transformer
        width = sd["visual.conv1.weight"].shape[0]
        patch = sd["visual.conv1.weight"].shape[-1]
        grid = round((sd["visual.positional_embedding"].shape[0] - 1) ** 0.5)
        vision = dict(vision_layers=_count(sd, "visual.transformer.resblocks.", 3), vision_width=width,
                      vision_patch_size=patch, image_resolution=patch * grid)
    else:  # ModifiedResNet
        layers = tuple(_count(sd, f"visual.layer{i}.", 2) for i in (1, 2, 3, 4))
        grid = round((sd["visual.attnpool.positional_embedding"].shape[0] - 1) ** 0.5)
        vision = dict(vision_layers=layers, vision_width=sd["visual.layer1.0.conv1.weight"].shape[0],
                      vision_patch_size=None, image_resolution=grid * 32)
    width = sd["ln_final.weight"].shape[0]
    return CLIPConfig(
        embed_dim=sd["text_projection"].shape[1], context_length=sd["positional_embedding"].shape[0],
        vocab_size=sd["token_embedding.weight"].shape[0], transformer_width=width, transformer_heads=width // 64,
        transformer_layers=_count(sd, "transformer.resblocks.", 2), **vision,
    )


def build_model(state_dict: dict, config: CLIPConfig | None = None, tokenizer: BPETokenizer | None = None) -> CLIP:
    """A CLIP with `state_dict`'s weights, its architecture inferred unless `config` is given.

    Keys that openai/CLIP's archives carry beside the weights (input_resolution, context_length, vocab_size)
    are ignored; any other missing or unexpected key, or a shape that differs, raises ValueError naming them.
    """
    sd = {k: v for k, v in state_dict.items() if k not in ("input_resolution", "context_length", "vocab_size")}
    model = CLIP(config or config_from_state_dict(sd), tokenizer=tokenizer)
    own = model.state_dict()
    missing, unexpected = sorted(own.keys() - sd.keys()), sorted(sd.keys() - own.keys())
    shapes = [f"{k}: checkpoint {tuple(sd[k].shape)} vs model {tuple(own[k].shape)}"
              for k in own.keys() & sd.keys() if sd[k].shape != own[k].shape]
    if missing or unexpected or shapes:
        parts = [f"missing keys {missing[:10]}" if missing else "", f"unexpected keys {unexpected[:10]}"
                 if unexpected else "", f"shape mismatches {sorted(shapes)[:10]}" if shapes else ""]
        raise ValueError("checkpoint does not fit the CLIP architecture: " + "; ".join(p for p in parts if p))
    model.load_state_dict(sd)
    return model.eval()
