"""Two objectives CLIP was chosen over, and zero-shot classification by the likelihood of a prompt.

Radford et al. 2021, section 2.3 and figure 2: before settling on the contrastive loss, the authors trained an
image encoder and a transformer to *predict* each image's caption (a language model, as VirTex does), then a
predictor of the caption's bag of words; the contrastive objective reached the same zero-shot ImageNet accuracy
with about 4x fewer images than bag-of-words prediction, which was about 3x more efficient than the language
model. This module builds the two predictive objectives on the book's model, so that the comparison can be run
with the same image encoder, data and number of images seen (scripts/measure_objectives.py, chapter 9):

    CaptionLM            the CLIP model's image encoder and text transformer: the image's embedding, projected to
                         the transformer's width, takes the start token's place; the causal transformer predicts
                         each next token through a linear head of its own (untied from the token embedding: on the
                         shapes of tests/test_objectives.py, a tied head's loss after 72 steps was 3.9, against 2.4)
    BagOfWordsPredictor  the same image encoder and a linear layer to one logit per token of the vocabulary,
                         trained with cross-entropy against the caption's tokens as a distribution (order lost)
    BagOfWordsCLIP       CLIP whose text encoder is the mean of the caption's token embeddings: the paper's own
                         contrastive model of figure 2, which reads captions as bags of words too

A predictive model is pointed at a task with words as CLIP is, but scores a prompt by its log-likelihood given
the image, log p(prompt | image); with several templates, a class's score is the mean over templates. CLIP
itself scores by cosine similarity (minclip.zeroshot); `score_classes` and `score_pairs` hide the difference.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from minclip.captions import fill
from minclip.model import CLIP
from minclip.zeroshot import encode_images, zero_shot_classifier


def caption_words(tokens: torch.Tensor) -> torch.Tensor:
    """(B, T) True at each text's own tokens: after its start token, before its end-of-text token."""
    inside = torch.arange(tokens.shape[1], device=tokens.device)[None] < tokens.argmax(dim=-1)[:, None]
    inside[:, 0] = False  # the start token
    return inside


class CaptionLM(nn.Module):
    """An image-conditioned language model made of a CLIP model's parts: forward(images, tokens) -> next-token
    logits (B, T, V) for positions 0..T-1 of `tokens`' used columns (position 0 holds the image)."""

    def __init__(self, clip: CLIP):
        super().__init__()
        self.clip = clip
        self.prefix = nn.Linear(clip.config.embed_dim, clip.config.transformer_width)
        self.head = nn.Linear(clip.config.transformer_width, clip.config.vocab_size)

    def tokenize(self, texts, truncate: bool = False) -> torch.LongTensor:
        return self.clip.tokenize(texts, truncate=truncate)

    def encode_image(self, image: torch.Tensor) -> torch.Tensor:
        return self.clip.encode_image(image)  # (B, D)

    def logits_from_features(self, features: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        """Next-token logits (B, T, V) from image embeddings (B, D) and token ids (B, context), where T is one
        past the last end-of-text token: position t predicts token t + 1."""
        c = self.clip
        T = int(tokens.argmax(dim=-1).max()) + 1
        x = torch.cat([self.prefix(features.to(self.prefix.weight.dtype))[:, None],  # (B, 1, C): the image
                       c.token_embedding(tokens[:, 1:T])], dim=1)  # (B, T, C): image, then the caption
        x = x + c.positional_embedding[:T].to(x.dtype)
        x = c.ln_final(c.transformer(x, c.attn_mask[:T, :T]))  # (B, T, C)
        return self.head(x)  # (B, T, V)

    def forward(self, images: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        return self.logits_from_features(self.encode_image(images), tokens)

    def token_log_probs(self, logits: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        """log p of each caption token after the start token, up to and including end-of-text; 0 after it (B, T-1)."""
        T = logits.shape[1]
        targets = tokens[:, 1:T]  # (B, T-1)
        logp = logits[:, :-1].float().log_softmax(dim=-1).gather(-1, targets[..., None])[..., 0]
        used = torch.arange(1, T, device=tokens.device)[None] <= tokens.argmax(dim=-1)[:, None]
        return logp * used

    def log_likelihood(self, features: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        """log p(text | image) (B,): the sum of token_log_probs, from image embeddings (B, D) and ids (B, context)."""
        return self.token_log_probs(self.logits_from_features(features, tokens), tokens).sum(dim=-1)


class BagOfWordsPredictor(nn.Module):
    """A CLIP model's image encoder and a linear layer: forward(images) -> (B, V) logits over the vocabulary.
    Holds the CLIP model for its tokenizer; its text tower is not used."""

    def __init__(self, clip: CLIP):
        super().__init__()
        self.visual = clip.visual
        self.head = nn.Linear(clip.config.embed_dim, clip.config.vocab_size)
        self._clip = [clip]  # the tokenizer's owner, kept out of the module tree (its text weights are not ours)

    def tokenize(self, texts, truncate: bool = False) -> torch.LongTensor:
        return self._clip[0].tokenize(texts, truncate=truncate)

    def encode_image(self, image: torch.Tensor) -> torch.Tensor:
        return self.visual(image.to(self.head.weight.dtype))  # (B, D)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.encode_image(images))  # (B, V)

    def bags(self, tokens: torch.Tensor) -> torch.Tensor:
        """Token counts (B, V) of each text between its start and end-of-text tokens."""
        counts = torch.zeros(len(tokens), self.head.out_features, device=tokens.device)
        return counts.scatter_add_(1, tokens, caption_words(tokens).float())

    def log_likelihood(self, features: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        """log p(bag of the text's tokens | image) (B,), each token drawn from the predicted distribution."""
        logp = self.head(features.to(self.head.weight.dtype)).float().log_softmax(dim=-1)  # (B, V)
        return (logp * self.bags(tokens)).sum(dim=-1)


class BagOfWordsCLIP(CLIP):
    """CLIP with the paper's figure-2 text encoder: a caption's embedding is the mean of its token embeddings
    (order lost), normalised and projected; the image side and the contrastive loss are CLIP's. The text
    transformer is built (so the parameter names stay CLIP's) but not used."""

    @classmethod
    def from_clip(cls, clip: CLIP) -> BagOfWordsCLIP:
        """The same weights and tokenizer as `clip` (so both start from one initialisation)."""
        model = cls(clip.config, tokenizer=clip.tokenizer)
        model.load_state_dict(clip.state_dict())
        return model

    def encode_text(self, text: torch.Tensor) -> torch.Tensor:
        inside = caption_words(text)  # (B, T)
        # the words in one canonical order (by token id, the rest after them), so that a caption and any
        # reordering of it sum the same floats in the same order: equal embeddings, bit for bit
        key = torch.where(inside, text, self.config.vocab_size).sort(dim=1).values  # (B, T)
        inside = key < self.config.vocab_size
        words = self.token_embedding(key.clamp(max=self.config.vocab_size - 1)).to(self.dtype) * inside[..., None]
        mean = words.sum(dim=1) / inside.sum(dim=1, keepdim=True).clamp(min=1)  # (B, C), zero rows outside
        return self.ln_final(mean) @ self.text_projection.to(mean.dtype)  # (B, D)


class CaptionLMStep:
    """One step of the language model: cross-entropy of every next caption token (an objective for train())."""

    def __init__(self, model: CaptionLM):
        self.model = model

    def module(self) -> nn.Module:
        return self.model

    def loss(self, forward, batch, move) -> torch.Tensor:
        tokens = move(self.model.tokenize(batch[1], truncate=True), made_here=True)  # (B, context)
        logits = forward(move(batch[0]), tokens)  # (B, T, V)
        logp = self.model.token_log_probs(logits, tokens)  # (B, T-1), 0 where no token is predicted
        return -logp.sum() / tokens.argmax(dim=-1).sum()  # per predicted token: each row predicts eot of them

    def after_step(self) -> None:
        pass

    def stats(self) -> dict:
        return {}


class BagOfWordsStep(CaptionLMStep):
    """One step of the bag-of-words predictor: cross-entropy against the caption's token counts, normalised."""

    def loss(self, forward, batch, move) -> torch.Tensor:
        tokens = move(self.model.tokenize(batch[1], truncate=True), made_here=True)
        bags = self.model.bags(tokens)  # (B, V)
        target = bags / bags.sum(dim=-1, keepdim=True).clamp(min=1)
        return -(target * forward(move(batch[0])).float().log_softmax(dim=-1)).sum(dim=-1).mean()


def objective_step(model: nn.Module):
    """The train() objective of a model: CaptionLMStep, BagOfWordsStep, or None (CLIP's ContrastiveStep)."""
    if isinstance(model, CaptionLM):
        return CaptionLMStep(model)
    if isinstance(model, BagOfWordsPredictor):
        return BagOfWordsStep(model)
    return None


# ----------------------------------------------------------------------------------------------------------
# zero-shot scoring, whichever the objective


@torch.no_grad()
def _pair_log_likelihood(model, features: torch.Tensor, tokens: torch.Tensor, chunk: int = 512) -> torch.Tensor:
    """model.log_likelihood over rows (N,), in chunks of `chunk` (image embeddings (N, D), ids (N, context))."""
    device = next(model.parameters()).device
    return torch.cat([model.log_likelihood(features[i:i + chunk].to(device), tokens[i:i + chunk].to(device)).cpu()
                      for i in range(0, len(tokens), chunk)])


@torch.no_grad()
def score_classes(model, images: torch.Tensor, classnames: Sequence[str], templates: Sequence[str]) -> torch.Tensor:
    """Zero-shot scores (N, C) of images (N, 3, R, R) for classes: cosine similarity to the template-ensembled
    class embedding for CLIP; the mean over templates of log p(prompt | image) for a predictive model."""
    if not classnames or not templates or len(images) == 0:
        raise ValueError("score_classes needs images, at least one class name and one template")
    if isinstance(model, CLIP):
        return encode_images(model, images) @ zero_shot_classifier(model, classnames, templates).float().cpu()
    features = encode_images(model, images, normalize=False)  # (N, D)
    prompts = [fill(t, c) for c in classnames for t in templates]  # class-major: (C * K,)
    tokens = model.tokenize(prompts, truncate=True)  # (C * K, context)
    N, P = len(features), len(prompts)
    scores = _pair_log_likelihood(model, features.repeat_interleave(P, dim=0), tokens.repeat(N, 1))  # (N * P,)
    return scores.view(N, len(classnames), len(templates)).mean(dim=-1)  # (N, C)


@torch.no_grad()
def score_pairs(model, images: torch.Tensor, texts: Sequence[str], templates: Sequence[str] = ("{}",)) -> torch.Tensor:
    """The score (N,) of text i for image i, each text filled into every template (mean, or ensembled embedding)."""
    if len(images) != len(texts) or len(texts) == 0:
        raise ValueError(f"score_pairs needs one text per image, got {len(images)} images and {len(texts)} texts")
    if isinstance(model, CLIP):
        texts_ensembled = zero_shot_classifier(model, texts, templates).t().float().cpu()  # (N, D)
        return (encode_images(model, images) * texts_ensembled).sum(dim=-1)
    features = encode_images(model, images, normalize=False)
    return torch.stack([_pair_log_likelihood(model, features, model.tokenize([fill(t, x) for x in texts],
                                                                             truncate=True))
                        for t in templates]).mean(dim=0)


def evaluate_objective(model, tasks, templates: Sequence[str]) -> list[dict]:
    """minclip.tasks.evaluate_suite for any objective's model: {"task", "top1", "chance", "n"} per task."""
    was_training = model.training
    model.eval()
    rows = []
    for task in tasks:
        if task.kind == "binding":
            true = score_pairs(model, task.images, [p[0] for p in task.prompts], templates)
            swapped = score_pairs(model, task.images, [p[1] for p in task.prompts], templates)
            # a tie (a bag of words cannot tell "A left of B" from "B left of A") counts half, as a coin toss would
            top1 = ((true > swapped).float() + 0.5 * (true == swapped).float()).mean().item()
        else:
            scores = score_classes(model, task.images, task.classnames, templates)
            top1 = (scores.argmax(dim=-1) == task.labels).float().mean().item()
        rows.append({"task": task.name, "top1": top1, "chance": task.chance, "n": len(task.images)})
    model.train(was_training)
    return rows


# ----------------------------------------------------------------------------------------------------------
# how many more images an objective needs


def images_to_reach(curve: Sequence[tuple[float, float]], accuracy: float) -> float:
    """The images seen at which a curve of (images seen, accuracy) points first reaches `accuracy`, interpolated
    linearly in log(images) between its points; math.inf if it never does."""
    previous = None
    for images, acc in curve:
        if acc >= accuracy:
            if previous is None or previous[1] >= accuracy:
                return float(images)
            (n0, a0), n1 = previous, images
            w = (accuracy - a0) / (acc - a0)
            return math.exp(math.log(n0) + w * (math.log(n1) - math.log(n0)))
        previous = (images, acc)
    return math.inf


def efficiency(a: Sequence[tuple[float, float]], b: Sequence[tuple[float, float]]) -> float:
    """How many times fewer images curve `a` needs than curve `b` to reach the lower of their best accuracies (the
    paper's "4x more efficient"): images_to_reach(b, target) / images_to_reach(a, target). Below 1 when `a` is the
    slower; efficiency(b, a) is its inverse."""
    target = min(max(acc for _, acc in a), max(acc for _, acc in b))
    return images_to_reach(b, target) / images_to_reach(a, target)
