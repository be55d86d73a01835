"""Zero-shot classification with prompt ensembling, and image-text retrieval metrics.

Follows Radford et al. 2021, section 3.1: a class's weight vector is the text embedding of a prompt built from
its name; with several prompt templates, each embedding is L2-normalised, the embeddings are averaged, and
the mean is normalised again (section 3.1.4, "prompt engineering and ensembling"). Because the ensemble lives
in embedding space, it costs nothing at inference: the classifier is one [D, C] matrix.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm


@torch.no_grad()
def zero_shot_classifier(model, classnames: Sequence[str], templates: Sequence[str]) -> torch.Tensor:
    """The [D, C] matrix of normalised, template-averaged class embeddings."""
    if not classnames or not templates:
        raise ValueError("zero-shot classification needs at least one class name and one template")
    if any(t.count("{}") != 1 for t in templates):
        raise ValueError(f"every template must contain '{{}}' exactly once: {list(templates)}")
    device = next(model.parameters()).device
    weights = []
    for name in classnames:
        tokens = model.tokenize([t.format(name) for t in templates]).to(device)  # (K, T)
        embeddings = F.normalize(model.encode_text(tokens).float(), dim=-1)  # (K, D)
        weights.append(F.normalize(embeddings.mean(dim=0), dim=-1))  # (D,)
    return torch.stack(weights, dim=1)  # (D, C)


@torch.no_grad()
def zero_shot_eval(model, loader: Iterable, classifier: torch.Tensor, topk: Sequence[int] = (1, 5),
                   progress: bool = True) -> dict[str, float]:
    """Top-k accuracy of `classifier` over batches (images, captions, labels); keys 'top1', 'top5', 'n'."""
    device = next(model.parameters()).device
    topk = [k for k in topk if k <= classifier.shape[1]]
    correct = dict.fromkeys(topk, 0)
    n = 0
    for images, _, labels in tqdm(loader, desc="zero-shot", disable=not progress, leave=False):
        features = F.normalize(model.encode_image(images.to(device)).float(), dim=-1)  # (B, D)
        ranked = (features @ classifier).topk(max(topk), dim=-1).indices.cpu()  # (B, k)
        hits = ranked == labels[:, None]
        for k in topk:
            correct[k] += hits[:, :k].any(dim=-1).sum().item()
        n += len(labels)
    if n == 0:
        raise ValueError("zero_shot_eval got an empty dataset")
    return {**{f"top{k}": correct[k] / n for k in topk}, "n": n}


def retrieval_recall(image_features: torch.Tensor, text_features: torch.Tensor,
                     ks: Sequence[int] = (1, 5, 10)) -> dict[str, float]:
    """Recall@k for image->text and text->image, where pair i is (image i, text i).

    Recall@k: the fraction of queries whose own partner is among the k most similar items.
    """
    similarity = F.normalize(image_features.float(), dim=-1) @ F.normalize(text_features.float(), dim=-1).t()
    target = torch.arange(len(similarity), device=similarity.device)[:, None]
    out = {}
    for name, sim in (("image_to_text", similarity), ("text_to_image", similarity.t())):
        ranks = (sim.argsort(dim=-1, descending=True) == target).float().argmax(dim=-1)  # rank of the partner
        for k in ks:
            out[f"{name}_R@{k}"] = (ranks < k).float().mean().item()
    return out
