"""Evaluation, written once: image features, zero-shot classification with prompt ensembling, top-k accuracy,
and image-text retrieval metrics.

Follows Radford et al. 2021, section 3.1: a class's weight vector is the text embedding of a prompt built from
its name; with several prompt templates, each embedding is L2-normalised, the embeddings are averaged, and
the mean is normalised again (section 3.1.4, "prompt engineering and ensembling"). Because the ensemble lives
in embedding space, it costs nothing at inference: the classifier is one [D, C] matrix.

Prompts are filled with captions.fill, so the prompts scored are the ones captions.zero_shot_prompts lists (and
its tests check): "a photo of an ankle boot.", where openai/CLIP's notebooks write template.format(c), "a photo of
a ankle boot.". Accuracies are fractions in [0, 1] everywhere; a figure shows them as percentages.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from minclip.captions import fill


@torch.no_grad()
def encode_images(model, images: torch.Tensor, batch_size: int = 256, normalize: bool = True) -> torch.Tensor:
    """L2-normalised image embeddings (N, D) float32 on the CPU, of a tensor of images encoded in batches
    (normalize=False: as the encoder gives them, for heads that read them so, minclip.objectives)."""
    device = next(model.parameters()).device
    out = []
    for i in range(0, len(images), batch_size):
        x = model.encode_image(images[i:i + batch_size].to(device)).float()  # (B, D)
        out.append((F.normalize(x, dim=-1) if normalize else x).cpu())  # to the CPU batch by batch
    if not out:
        raise ValueError("encode_images got no images")
    return torch.cat(out)


@torch.no_grad()
def encode_texts(model, texts: Sequence[str], batch_size: int = 256) -> torch.Tensor:
    """L2-normalised text embeddings (N, D) float32 on the CPU; texts longer than the context are truncated."""
    device = next(model.parameters()).device
    out = [F.normalize(model.encode_text(model.tokenize(list(texts[i:i + batch_size]), truncate=True).to(device))
                       .float(), dim=-1).cpu() for i in range(0, len(texts), batch_size)]  # each (B, D)
    if not out:
        raise ValueError("encode_texts got no texts")
    return torch.cat(out)


@torch.no_grad()
def extract_features(model, loader: Iterable, progress: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Normalised image embeddings and labels over batches (images, captions, labels): ([N, D] float32, [N])."""
    features, labels = [], []
    for images, _, batch_labels in tqdm(loader, desc="features", disable=not progress, leave=False):
        features.append(encode_images(model, images, batch_size=len(images)))  # (B, D)
        labels.append(torch.as_tensor(batch_labels, dtype=torch.int64))
    if not features:
        raise ValueError("extract_features got an empty dataset")
    return torch.cat(features), torch.cat(labels)


def topk_accuracy(scores: torch.Tensor, labels: torch.Tensor, topk: Sequence[int] = (1, 5)) -> dict[str, float]:
    """{"top1": ..., "top5": ...}: the fraction (in [0, 1]) of rows of scores [N, C] whose label is among their k
    highest scores; a k above C is left out. topk_accuracy(torch.tensor([[0.1, 0.9], [0.8, 0.2]]),
    torch.tensor([1, 1]), (1, 2)) -> {"top1": 0.5, "top2": 1.0}."""
    if scores.ndim != 2 or len(scores) != len(labels) or len(labels) == 0:
        raise ValueError(f"expected scores [N, C] and labels [N], N > 0, got {tuple(scores.shape)} and "
                         f"{tuple(labels.shape)}")
    topk = [k for k in topk if k <= scores.shape[1]]
    hits = scores.topk(max(topk), dim=-1).indices.cpu() == labels.cpu()[:, None]  # (N, max k)
    return {f"top{k}": hits[:, :k].any(dim=-1).float().mean().item() for k in topk}


@torch.no_grad()
def zero_shot_classifier(model, classnames: Sequence[str], templates: Sequence[str]) -> torch.Tensor:
    """The [D, C] matrix of normalised, template-averaged class embeddings.

    Each prompt is fill(template, classname): a template's "a {}" takes the article the name needs ("an ankle
    boot", "trousers"); any other "{}" takes the name as it is, so full phrases work with "a photo of {}."."""
    if not classnames or not templates:
        raise ValueError("zero-shot classification needs at least one class name and one template")
    if any(t.count("{}") != 1 for t in templates):
        raise ValueError(f"every template must contain '{{}}' exactly once: {list(templates)}")
    device = next(model.parameters()).device
    weights = []
    for name in classnames:
        tokens = model.tokenize([fill(t, name) for t in templates]).to(device)  # (K, T)
        embeddings = F.normalize(model.encode_text(tokens).float(), dim=-1)  # (K, D)
        weights.append(F.normalize(embeddings.mean(dim=0), dim=-1))  # (D,)
    return torch.stack(weights, dim=1)  # (D, C)


@torch.no_grad()
def zero_shot_eval(model, loader: Iterable, classifier: torch.Tensor, topk: Sequence[int] = (1, 5),
                   progress: bool = True) -> dict[str, float]:
    """Top-k accuracy (fractions) of `classifier` over batches (images, captions, labels); keys 'top1', 'top5', 'n'."""
    features, labels = extract_features(model, loader, progress=progress)  # (N, D), (N,)
    return {**topk_accuracy(features @ classifier.float().cpu(), labels, topk), "n": len(labels)}


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
