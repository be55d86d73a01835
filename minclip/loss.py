"""CLIP's contrastive loss, its learned temperature, and the same loss over many processes.

Follows Radford et al. 2021, section 2.3 and figure 3: N images and N texts give N x N cosine similarities,
scaled by exp(t) = 1/temperature, where t (logit_scale) is learned, initialised to ln(1/0.07) and "clipped to prevent
scaling the logits by more than 100"; the loss is the mean of the cross-entropies over rows (each image picks
its text) and over columns (each text picks its image). The distributed version gathers features across
processes in the spirit of open_clip's ClipLoss (Ilharco et al. 2021), written here from the maths.
"""

from __future__ import annotations

import math

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

MAX_LOGIT_SCALE = 100.0  # the paper's cap on exp(t)


def clip_loss(image_features: torch.Tensor, text_features: torch.Tensor, logit_scale: torch.Tensor,
              negative_features: torch.Tensor | None = None) -> torch.Tensor:
    """Symmetric cross-entropy of the scaled cosine similarities of N (image, text) pairs.

    image_features (N, D) and text_features (N, D) are L2-normalised here; `logit_scale` is the multiplicative
    scale exp(t), not t. Pair i is the positive for row i and for column i; the other N - 1 are negatives.
    negative_features (M, D), optional: M more captions that belong to no image (NegCLIP's hard negatives,
    Yuksekgonul et al. 2023), extra columns for the image-to-text half only.
    """
    if image_features.shape != text_features.shape or image_features.dim() != 2:
        raise ValueError(f"expected two (N, D) feature batches of the same shape, got "
                         f"{tuple(image_features.shape)} and {tuple(text_features.shape)}")
    image_features = F.normalize(image_features, dim=-1)
    text_features = F.normalize(text_features, dim=-1)
    logits_per_image = logit_scale * image_features @ text_features.t()  # (N, N): row i = image i vs all texts
    labels = torch.arange(len(logits_per_image), device=logits_per_image.device)
    logits_per_text = logits_per_image.t()
    if negative_features is not None and len(negative_features):
        negatives = logit_scale * image_features @ F.normalize(negative_features, dim=-1).t()  # (N, M)
        logits_per_image = torch.cat([logits_per_image, negatives], dim=1)  # (N, N + M)
    return (F.cross_entropy(logits_per_image, labels) + F.cross_entropy(logits_per_text, labels)) / 2


@torch.no_grad()
def clamp_logit_scale(logit_scale: nn.Parameter, max_scale: float = MAX_LOGIT_SCALE) -> None:
    """Keep the learned t (logit_scale) in [0, ln(max_scale)], so the scale 1 <= exp(t) <= 100. Call after each step."""
    logit_scale.clamp_(0, math.log(max_scale))


# ----------------------------------------------------------------------------------------------------------
# many processes


class _AllGather(torch.autograd.Function):
    """Concatenate every process's (n, D) tensor into (P * n, D); the backward pass sums the gradients that
    all processes computed for this process's rows and returns them (an all-reduce, then a slice)."""

    @staticmethod
    def forward(ctx, x):
        ctx.rank, ctx.n = dist.get_rank(), x.shape[0]
        parts = [torch.empty_like(x) for _ in range(dist.get_world_size())]
        dist.all_gather(parts, x.contiguous())
        return torch.cat(parts)

    @staticmethod
    def backward(ctx, grad):
        grad = grad.contiguous()
        dist.all_reduce(grad)
        return grad[ctx.rank * ctx.n : (ctx.rank + 1) * ctx.n]


def _gather_detached(x: torch.Tensor) -> torch.Tensor:
    """Every process's rows, this process's own rows keeping their graph, the others without gradient.

    The other P - 1 processes compute the same global loss and would each send back the same gradient for
    these rows; scaling the gradient of the local rows by P adds those copies here instead of communicating.
    """
    world, rank = dist.get_world_size(), dist.get_rank()
    parts = [torch.empty_like(x) for _ in range(world)]
    dist.all_gather(parts, x.detach().contiguous())
    parts[rank] = x * world - x.detach() * (world - 1)  # the value of x, the gradient of world * x
    return torch.cat(parts)


class ClipLoss(nn.Module):
    """clip_loss over the global batch of all processes of a torch.distributed group (or alone without one).

    Each process passes its local (n, D) features. Contract, for P processes with N = P * n pairs in all:
    the mean of the P returned losses equals clip_loss on the whole batch, and each process's gradients
    equal P times the whole-batch gradients of its rows, so DistributedDataParallel's averaging of parameter
    gradients yields exactly the whole-batch gradient.

    gather_with_grad=False: features are gathered without autograd; every process computes the full N x N
        loss. local_loss=True: each process computes only its n rows against all N columns (and its n texts
        against all N images): logits memory per process falls from N^2 to 2nN = 2N^2 / P. Its gradients need
        the other processes' terms, so local_loss requires gather_with_grad=True.
    """

    def __init__(self, local_loss: bool = False, gather_with_grad: bool = False):
        super().__init__()
        if local_loss and not gather_with_grad:
            raise ValueError("local_loss=True needs gather_with_grad=True: without it, each process misses the "
                             "gradient terms that the other processes' rows contribute to its features")
        self.local_loss, self.gather_with_grad = local_loss, gather_with_grad

    def forward(self, image_features: torch.Tensor, text_features: torch.Tensor, logit_scale: torch.Tensor):
        if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
            return clip_loss(image_features, text_features, logit_scale)
        image_features = F.normalize(image_features, dim=-1)  # (n, D)
        text_features = F.normalize(text_features, dim=-1)
        gather = _AllGather.apply if self.gather_with_grad else _gather_detached
        all_images, all_texts = gather(image_features), gather(text_features)  # (N, D)
        if not self.local_loss:
            return clip_loss(all_images, all_texts, logit_scale)
        n, rank = len(image_features), dist.get_rank()
        labels = torch.arange(n, device=image_features.device) + n * rank  # this process's pairs in the batch
        logits_per_image = logit_scale * image_features @ all_texts.t()  # (n, N)
        logits_per_text = logit_scale * text_features @ all_images.t()  # (n, N)
        return (F.cross_entropy(logits_per_image, labels) + F.cross_entropy(logits_per_text, labels)) / 2
