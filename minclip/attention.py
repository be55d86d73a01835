"""Attention and the transformer CLIP uses for text (and for the ViT).

Follows Radford et al. 2021 (section 2.4) and openai/CLIP's model.py: pre-LayerNorm residual blocks
(Radford et al. 2019) with QuickGELU (Hendrycks & Gimpel 2016, the sigmoid approximation x * sigmoid(1.702 x))
and a 4x MLP (OpenCLIP's LAION models use exact GELU instead, and a few of them a wider MLP). Attention is
scaled dot-product attention (Vaswani et al. 2017) computed with ``F.scaled_dot_product_attention``; the
parameters keep the names and layout of ``nn.MultiheadAttention`` (``in_proj_weight``, ``in_proj_bias``,
``out_proj``) so OpenAI's checkpoints load by name.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn


class QuickGELU(nn.Module):
    """GELU approximated by x * sigmoid(1.702 x), the activation OpenAI's CLIP weights were trained with."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(1.702 * x)


# the MLP's activation by the names open_clip's and Hugging Face's configs use
ACTIVATIONS = {"quick_gelu": QuickGELU, "gelu": nn.GELU}


class LayerNorm(nn.LayerNorm):
    """LayerNorm that computes in float32 whatever the input dtype, then casts back (stable under fp16)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight = self.weight.float() if self.weight is not None else None
        bias = self.bias.float() if self.bias is not None else None
        return F.layer_norm(x.float(), self.normalized_shape, weight, bias, self.eps).to(x.dtype)


class MultiheadAttention(nn.Module):
    """Multi-head attention over batch-first inputs, with nn.MultiheadAttention's parameter names.

    softmax(Q K^T / sqrt(d_head) + mask) V per head, where [Q; K; V] = x W_in^T + b_in, then out_proj.
    """

    def __init__(self, d_model: int, n_head: int):
        super().__init__()
        if d_model % n_head:
            raise ValueError(f"width {d_model} is not divisible by {n_head} heads")
        self.n_head = n_head
        self.in_proj_weight = nn.Parameter(torch.empty(3 * d_model, d_model))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * d_model))
        self.out_proj = nn.Linear(d_model, d_model)
        nn.init.xavier_uniform_(self.in_proj_weight)
        nn.init.zeros_(self.out_proj.bias)

    def forward(
        self, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, attn_mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        B, Tq, C = query.shape
        if query is key and key is value:  # self-attention: one matrix multiply for all three projections
            q, k, v = F.linear(query, self.in_proj_weight, self.in_proj_bias).chunk(3, dim=-1)  # (B, T, C) each
        else:
            w_q, w_k, w_v = self.in_proj_weight.chunk(3)
            b_q, b_k, b_v = self.in_proj_bias.chunk(3)
            q, k, v = F.linear(query, w_q, b_q), F.linear(key, w_k, b_k), F.linear(value, w_v, b_v)  # (B, T, C)
        q, k, v = (t.view(B, -1, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))  # (B, nh, T, hs)
        if attn_mask is not None:
            attn_mask = attn_mask.to(q.dtype)
        y = attention(q, k, v, attn_mask)  # (B, nh, Tq, hs)
        return self.out_proj(y.transpose(1, 2).reshape(B, Tq, C))  # (B, Tq, C)


def attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, attn_mask: torch.Tensor | None = None
              ) -> torch.Tensor:
    """softmax(q k^T / sqrt(d_head) + mask) v over (B, nh, T, hs) heads: F.scaled_dot_product_attention, except in
    bfloat16 on a CPU, where PyTorch's fused kernel, forward and backward, takes about three times as long as the
    formula written out for the book's short captions (a text-stage step of minclip.word_order half as long again:
    benchmarks/bench_cpu_amp.py). Written out, it computes in float32, as the fused kernel does inside, with
    autocast off (which would round the scores to bfloat16), and returns bfloat16."""
    if q.device.type != "cpu" or q.dtype != torch.bfloat16:
        return F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)
    with torch.autocast("cpu", enabled=False):
        scores = (q.float() @ k.float().transpose(-2, -1)) * q.shape[-1] ** -0.5  # (B, nh, Tq, Tk)
        if attn_mask is not None:
            scores = scores + attn_mask.float()
        return (scores.softmax(dim=-1) @ v.float()).to(q.dtype)  # (B, nh, Tq, hs)


class ResidualAttentionBlock(nn.Module):
    """x + attn(ln_1(x)), then x + mlp(ln_2(x)): the pre-LN transformer block."""

    def __init__(self, d_model: int, n_head: int, activation: str = "quick_gelu", mlp_ratio: float = 4.0):
        super().__init__()
        self.ln_1 = LayerNorm(d_model)
        self.attn = MultiheadAttention(d_model, n_head)
        self.ln_2 = LayerNorm(d_model)
        mlp_width = int(d_model * mlp_ratio)
        self.mlp = nn.Sequential(
            OrderedDict(
                c_fc=nn.Linear(d_model, mlp_width),
                gelu=ACTIVATIONS[activation](),
                c_proj=nn.Linear(mlp_width, d_model),
            )
        )

    def forward(self, x: torch.Tensor, attn_mask: torch.Tensor | None = None) -> torch.Tensor:
        h = self.ln_1(x)
        x = x + self.attn(h, h, h, attn_mask=attn_mask)
        return x + self.mlp(self.ln_2(x))


class Transformer(nn.Module):
    """A stack of `layers` residual attention blocks of the same width, batch first: (B, T, C) -> (B, T, C)."""

    def __init__(self, width: int, layers: int, heads: int, activation: str = "quick_gelu", mlp_ratio: float = 4.0):
        super().__init__()
        self.width, self.layers = width, layers
        self.resblocks = nn.Sequential(*[ResidualAttentionBlock(width, heads, activation, mlp_ratio)
                                         for _ in range(layers)])

    def forward(self, x: torch.Tensor, attn_mask: torch.Tensor | None = None) -> torch.Tensor:
        for block in self.resblocks:
            x = block(x, attn_mask)
        return x


def causal_mask(context_length: int) -> torch.Tensor:
    """Additive mask (T, T): 0 on and below the diagonal, -inf above, so token t attends to tokens <= t."""
    return torch.full((context_length, context_length), float("-inf")).triu_(1)
