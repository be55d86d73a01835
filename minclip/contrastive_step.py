"""What one CLIP training step computes: the contrastive loss of a batch (minclip.loss), through both towers.

Radford et al. 2021, section 2.5 and figure 3: a batch's images and captions are encoded, and the symmetric
cross-entropy over their scaled cosine similarities is the loss; the learnt temperature is clipped at 100 after
each update. ContrastiveStep is the objective minclip.train's loop runs by default; others derive from it
(minclip.word_order's WordOrderStep adds a text-side term) or stand beside it (minclip.baseline, minclip.objectives).
minclip.train re-exports ContrastiveStep and SPLIT_ROWS.
"""

from __future__ import annotations

import torch
import torch.distributed as dist

from minclip.loss import ClipLoss, clamp_logit_scale, clip_loss
from minclip.model import CLIP


def _world() -> tuple[int, int]:
    """(rank, world size): (0, 1) outside an initialised torch.distributed group of more than one process."""
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


# A training step encodes a batch of this many captions or more as two batches, its shorter and its longer half,
# when the shorter half is at least a quarter shorter: encode_text cuts each at its own last end-of-text token, so
# both skip padding (a scenes step about 1.06x as fast, benchmarks/bench_cpu_amp.py)
SPLIT_ROWS = 64


def encode_text_split(model: CLIP, tokens: torch.Tensor) -> torch.Tensor:
    """model.encode_text(tokens) (B, D), computed for the shorter and the longer half of a large batch apart."""
    eot = tokens.argmax(dim=-1)
    if len(tokens) >= SPLIT_ROWS:
        order = eot.argsort()
        short, long = order[: len(tokens) // 2], order[len(tokens) // 2:]
        if 4 * (int(eot[short[-1]]) + 1) <= 3 * (int(eot[long[-1]]) + 1):
            halves = torch.cat([model.encode_text(tokens[short]), model.encode_text(tokens[long])])
            return halves[order.argsort()]  # (B, D) in the rows' order
    return model.encode_text(tokens)


class _Towers(torch.nn.Module):
    """Both encoders behind one forward(), so DistributedDataParallel sees every parameter in use."""

    def __init__(self, model: CLIP):
        super().__init__()
        self.model = model

    def forward(self, images, tokens):
        return self.model.encode_image(images), encode_text_split(self.model, tokens)


class ContrastiveStep:
    """What one CLIP step computes (section 2.5): the symmetric contrastive loss of a batch of (image, caption)
    pairs, with the temperature clipped at 100 after each update. Across processes, ClipLoss gathers the features
    of the whole global batch (local_loss=True, gather_with_grad=True), as open_clip does.

    An objective for `train` has four parts: module() (what the forward pass goes through: wrapped in DDP and
    torch.compile by the loop), loss(forward, batch, move), after_step() and stats() (figures for the log)."""

    def __init__(self, model: CLIP):
        self.model = model
        self.loss_fn = ClipLoss(local_loss=True, gather_with_grad=True) if _world()[1] > 1 else clip_loss

    def module(self) -> torch.nn.Module:
        return _Towers(self.model)

    def loss(self, forward, batch, move) -> torch.Tensor:
        images, captions = batch[0], batch[1]
        negatives = [c for c in batch[3] if c] if len(batch) > 3 else []  # hard negative captions (NegCLIP)
        if negatives and self.loss_fn is not clip_loss:
            raise ValueError("hard negative captions are supported in one process only; train without them")
        extra = self.extra_texts()
        tokens = move(self.model.tokenize(captions + negatives + extra, truncate=True), made_here=True)  # (B+M+E, T)
        image_features, text_features = forward(move(images), tokens)  # (B, D), (B + M + E, D)
        scale, n, m = self.model.logit_scale.exp(), len(captions), len(negatives)
        if negatives:
            loss = clip_loss(image_features, text_features[:n], scale, text_features[n:n + m])
        else:
            loss = self.loss_fn(image_features, text_features[:n], scale)
        return loss + self.extra_loss(text_features[n + m:]) if extra else loss

    def extra_texts(self) -> list[str]:
        """Texts a step encodes besides the batch's captions, for a text-side term (none in CLIP's step;
        minclip.word_order's step adds sentences): they go through the same forward pass as the captions."""
        return []

    def extra_loss(self, text_features: torch.Tensor) -> torch.Tensor:
        """The text-side term on the embeddings of extra_texts() (E, D), added to the contrastive loss."""
        raise NotImplementedError

    def settings(self) -> dict:
        """What a checkpoint records of the objective besides its class, so that a resumed run refuses another."""
        return {}

    def after_step(self) -> None:
        clamp_logit_scale(self.model.logit_scale)

    def stats(self) -> dict:
        return {"logit_scale": self.model.logit_scale.exp().item()}

