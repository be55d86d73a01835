"""A linear probe: logistic regression on frozen CLIP image features.

Radford et al. 2021 (section 3.1.5 and figure 6 of section 3.2, and section 3.2's representation learning
comparison) measure a representation by fitting an L2-regularised logistic regression on its frozen image
features, and compare zero-shot CLIP with probes trained on k labelled examples per class (few-shot) or on a
whole training split. Here the regression is one `nn.Linear` fitted full-batch with L-BFGS on cross-entropy plus
an L2 penalty: small, deterministic given the seed, and fast on a CPU for tens of thousands of features.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from minclip.zeroshot import extract_features  # the features a probe is fitted on (evaluation, written once)

__all__ = ["extract_features", "few_shot_indices", "probe_accuracy", "train_linear_probe"]


def train_linear_probe(features: torch.Tensor, labels: torch.Tensor, num_classes: int, weight_decay: float = 1e-4,
                       steps: int = 100, seed: int = 0) -> nn.Linear:
    """Fit logistic regression, min_W mean CE(x W^T + b, y) + weight_decay * ||W||^2, full batch with L-BFGS.

    Deterministic given `seed` (it fixes the initial weights). Features are used as given: pass normalised
    embeddings, as extract_features returns them.
    """
    if features.ndim != 2 or len(features) != len(labels) or len(labels) == 0:
        raise ValueError(f"expected features [N, D] and labels [N], N > 0, got {tuple(features.shape)} and "
                         f"{tuple(labels.shape)}")
    x, y = features.float(), labels.long()
    generator = torch.Generator().manual_seed(seed)
    probe = nn.Linear(x.shape[1], num_classes)
    with torch.no_grad():
        probe.weight.copy_(torch.randn(probe.weight.shape, generator=generator) * 0.01)
        probe.bias.zero_()
    optimizer = torch.optim.LBFGS(probe.parameters(), lr=1.0, max_iter=steps, history_size=10,
                                  line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        loss = F.cross_entropy(probe(x), y) + weight_decay * probe.weight.pow(2).sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    return probe.requires_grad_(False)


@torch.no_grad()
def probe_accuracy(probe: nn.Module, features: torch.Tensor, labels: torch.Tensor) -> float:
    """Top-1 accuracy of the probe on (features, labels), a float in [0, 1]."""
    return (probe(features.float()).argmax(dim=-1) == labels).float().mean().item()


def few_shot_indices(labels: torch.Tensor, shots: int, seed: int = 0) -> torch.LongTensor:
    """Indices of `shots` examples per class, drawn without replacement, deterministic given `seed`.

    few_shot_indices(torch.tensor([0, 0, 1, 1, 1]), shots=1) -> one index from {0, 1} and one from {2, 3, 4}.
    Raises ValueError when a class has fewer than `shots` examples.
    """
    if shots < 1:
        raise ValueError(f"shots must be at least 1, got {shots}")
    generator = torch.Generator().manual_seed(seed)
    chosen = []
    for c in torch.unique(labels).tolist():
        members = (labels == c).nonzero().flatten()
        if len(members) < shots:
            raise ValueError(f"class {c} has {len(members)} examples, fewer than shots={shots}")
        chosen.append(members[torch.randperm(len(members), generator=generator)[:shots]])
    return torch.cat(chosen)
