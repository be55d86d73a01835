"""The supervised baseline: CLIP's image encoder trained on the labels, to put zero-shot accuracy in context.

Radford et al. 2021 (section 3.1.5, figure 5) set zero-shot CLIP beside a supervised classifier: a logistic
regression on the features of an ImageNet-trained ResNet-50. At our scale the fairest question is narrower:
give the *same* image encoder (the `cpu` preset's ModifiedResNet, initialised as in CLIP) the same images, the
same optimiser, schedule, batch size and number of steps, but train it on the labels with a linear layer and
cross-entropy instead of on captions with the contrastive loss. How far behind is a classifier that never saw
a label?

The record the book reads (data/models/supervised-baseline.json) is written by scripts/train_baseline.py.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from minclip.model import CLIP, CLIPConfig
from minclip.train import TrainConfig, train
from minclip.zeroshot import topk_accuracy


class SupervisedBaseline(nn.Module):
    """CLIP's image tower (built and initialised exactly as in `CLIP(config)`) followed by a linear classifier."""

    def __init__(self, config: CLIPConfig, num_classes: int):
        super().__init__()
        self.visual = CLIP(config).visual  # the same encoder, with CLIP's initialisation
        self.head = nn.Linear(config.embed_dim, num_classes)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.head(self.visual(image))  # (B, num_classes) logits


class SupervisedStep:
    """What one step of the baseline computes: cross-entropy of the classifier's logits against the labels (the
    objective minclip.train.train plugs in where CLIP's ContrastiveStep would go)."""

    def __init__(self, model: SupervisedBaseline):
        self.model = model

    def module(self) -> nn.Module:
        return self.model

    def loss(self, forward, batch, move) -> torch.Tensor:
        images, _, labels = batch
        return F.cross_entropy(forward(move(images)).float(), move(labels))  # logits (B, num_classes)

    def after_step(self) -> None:
        pass

    def stats(self) -> dict:
        return {}


def train_supervised(model: SupervisedBaseline, dataset, config: TrainConfig, progress: bool = True,
                     out_dir: str | Path | None = None) -> list[dict]:
    """Train on (image, caption, label) items with cross-entropy on the labels: minclip.train.train's loop with
    the SupervisedStep objective, so data order (epoch_order), AdamW groups, warm-up + cosine, gradient clipping,
    bf16 autocast on CUDA, max_steps, the NaN stop and (with out_dir) checkpoints and resume are CLIP's, and the
    two runs differ only in what they learn from. Returns one record per epoch."""
    return train(model, dataset, config, out_dir, progress=progress, objective=SupervisedStep(model))


@torch.no_grad()
def accuracy(model: SupervisedBaseline, loader, progress: bool = True) -> dict:
    """Top-1 and top-5 accuracy (fractions in [0, 1], minclip.zeroshot.topk_accuracy) over batches (images,
    captions, labels); key 'n' counts the images."""
    device = next(model.parameters()).device
    logits, labels = [], []
    for images, _, batch_labels in tqdm(loader, desc="evaluating", disable=not progress, leave=False):
        logits.append(model(images.to(device)).float().cpu())  # (B, num_classes)
        labels.append(torch.as_tensor(batch_labels))
    logits, labels = torch.cat(logits), torch.cat(labels)
    return {**topk_accuracy(logits, labels, (1, 5)), "n": len(labels)}
