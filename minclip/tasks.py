"""The zero-shot task suite: tasks no model was trained on as tasks, each a set of images, class prompts and chance.

The paper's measure of a CLIP model is zero-shot transfer: point it at a new task by writing the class names
into prompts, and classify with no training example (Radford et al. 2021, section 3.1). This suite asks the
scenes model for what its captions taught it, with prompt wordings that training never used
(minclip.scene_text.EVAL_FRAMES), on images rendered from Fashion-MNIST *test* items:

    fashion-mnist    the real test images, in the data set's own class names ("t-shirt/top", "trouser", ...)
    colour           one item in one of 11 colours: "a photo of a red item."
    count            one to four items: "a photo of three items."
    position         one small item at the left, right, top or bottom
    size             one item, small or large
    seen combos      colour x category, over all 110 pairs: "a photo of a red sneaker." (pairs seen in training)
    held-out combos  the same, on the pairs no training image or caption ever showed (scenes.HELDOUT_COMBOS)
    binding          two items: does "a sneaker to the left of a bag" beat "a bag to the left of a sneaker"?

plus ``plural_query_precision``: text-to-image search with plural and synonym queries ("sneakers", "a handbag").
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import torch

from minclip.data import FASHION_MNIST_CLASSES
from minclip.datasets import normalize, to_model_input
from minclip.scene_text import COLOURS, EVAL_FRAMES, NOUNS, RELATION_WORDS, article
from minclip.scenes import HELDOUT_COMBOS, SINGLE_CENTRES, SceneConfig, draw_scene, render
from minclip.zeroshot import encode_images, topk_accuracy, zero_shot_classifier

CATEGORY = tuple(forms[0][0] for forms in NOUNS)  # the data set's own word for each label, lower case
# the class names of the tasks below, each a phrase with its article (filled into the "{}" of EVAL_FRAMES)
ITEM_CLASSES = tuple(article(c) for c in CATEGORY)  # "a t-shirt" ... "an ankle boot"
COLOUR_CLASSES = tuple(article(f"{c} item") for c in COLOURS)  # "a black item" ... "a brown item"
COUNT_CLASSES = ("one item", "two items", "three items", "four items")
POSITION_CLASSES = ("an item on the left", "an item on the right", "an item at the top", "an item at the bottom")
SIZE_CLASSES = ("a small item", "a large item")
# every colour x category phrase, colour-major: COMBO_CLASSES[10 c + k] is colour c's category k ("a red sneaker")
COMBO_CLASSES = tuple(article(f"{c} {category}") for c in COLOURS for category in CATEGORY)


@dataclass
class Task:
    """images (N, 3, R, R) normalised; for "classify": labels (N,) and one phrase per class ("a red item"),
    filled into every template; for "binding": prompts[i] = (true caption, swapped caption) of image i."""

    name: str
    images: torch.Tensor
    chance: float
    labels: torch.Tensor | None = None
    classnames: list[str] | None = None
    prompts: list[tuple[str, str]] | None = None
    templates: tuple[str, ...] = EVAL_FRAMES
    kind: str = "classify"


def _single(category: int, source: int, colour: str, size: str, centre, rng: random.Random) -> dict:
    extent = rng.uniform(0.28, 0.36) if size == "small" else rng.uniform(0.46, 0.56)
    backgrounds = [b for b in ("black", "white", "grey") if
                   sum((x - y) ** 2 for x, y in zip(COLOURS[b], COLOURS[colour])) ** 0.5 > 120]
    return {"items": [{"category": category, "source": source, "colour": colour, "size": size, "centre": centre,
                       "extent": extent}], "background": rng.choice(backgrounds), "original": False}


def _pick(rng: random.Random, labels: torch.Tensor, category: int | None = None) -> int:
    while True:
        source = rng.randrange(len(labels))
        if category is None or int(labels[source]) == category:
            return source


def build_tasks(pool: tuple[torch.Tensor, torch.Tensor], n: int = 500, resolution: int = 128,
                seed: int = 0, fashion_mnist: tuple[torch.Tensor, torch.Tensor] | None = None) -> list[Task]:
    """The suite over an item pool (Fashion-MNIST test images uint8 (N, 28, 28) and labels), n images per task;
    the fashion-mnist task over `fashion_mnist` (default: the pool itself)."""
    images, labels = pool
    rng = random.Random(seed)
    colours = tuple(COLOURS)
    held = set(HELDOUT_COMBOS)

    def pixels(scenes):
        return torch.stack([normalize(render(s, images, resolution)) for s in scenes])

    tasks = []
    fm_images, fm_labels = fashion_mnist if fashion_mnist is not None else pool
    tasks.append(Task("fashion-mnist", torch.stack([to_model_input(im, resolution) for im in fm_images]),
                      0.1, fm_labels.clone(), [article(c.lower()) for c in FASHION_MNIST_CLASSES]))

    def classify(name, classes, make):
        ys = [rng.randrange(len(classes)) for _ in range(n)]
        tasks.append(Task(name, pixels([make(y) for y in ys]), 1 / len(classes), torch.tensor(ys), classes))

    def seen_colour(category):
        return rng.choice([c for c in colours if (c, category) not in held])

    def random_item(y_colour=None, size=None, centre=(0.5, 0.5)):
        source = _pick(rng, labels)
        category = int(labels[source])
        colour = colours[y_colour] if y_colour is not None else seen_colour(category)
        return _single(category, source, colour, size or rng.choice(("small", "large")), centre, rng)

    def colour_item(y):  # a held-out colour x category pair is not drawn here
        while (colours[y], int(labels[source := _pick(rng, labels)])) in held:
            pass
        return _single(int(labels[source]), source, colours[y], rng.choice(("small", "large")), (0.5, 0.5), rng)

    classify("colour", list(COLOUR_CLASSES), colour_item)

    classify("count", list(COUNT_CLASSES),
             lambda y: draw_scene(rng, labels, _count_config(y + 1), split="test"))
    sides = ("left", "right", "top", "bottom")
    classify("position", list(POSITION_CLASSES), lambda y: random_item(size="small", centre=SINGLE_CENTRES[sides[y]]))
    classify("size", list(SIZE_CLASSES), lambda y: random_item(size=("small", "large")[y]))

    combos = [(c, k) for c in colours for k in range(10)]  # in COMBO_CLASSES' order
    for name, pairs in (("seen combos", [p for p in combos if p not in held]), ("held-out combos", sorted(held))):
        ys = [combos.index(rng.choice(pairs)) for _ in range(n)]
        scenes = [_single(combos[y][1], _pick(rng, labels, combos[y][1]), combos[y][0], "large", (0.5, 0.5), rng)
                  for y in ys]
        tasks.append(Task(name, pixels(scenes), 1 / len(combos), torch.tensor(ys), list(COMBO_CLASSES)))

    scenes, prompts = [], []
    for _ in range(n):
        while True:
            a, b = _pick(rng, labels), _pick(rng, labels)
            if labels[a] != labels[b]:
                break
        horizontal = rng.random() < 0.5
        first, second = ((0.27, 0.5), (0.73, 0.5)) if horizontal else ((0.5, 0.27), (0.5, 0.73))
        scene = {"items": [], "background": rng.choice(("black", "white")), "original": False}
        for source, centre in ((a, first), (b, second)):
            category = int(labels[source])
            scene["items"].append({"category": category, "source": source, "colour": seen_colour(category),
                                   "size": "small", "centre": centre, "extent": rng.uniform(0.3, 0.4)})
        rel = rng.choice(RELATION_WORDS["left of" if horizontal else "above"])
        x, y = article(CATEGORY[int(labels[a])]), article(CATEGORY[int(labels[b])])
        scenes.append(scene)
        prompts.append((f"{x} {rel} {y}", f"{y} {rel} {x}"))
    tasks.append(Task("binding", pixels(scenes), 0.5, prompts=prompts, kind="binding"))
    return tasks


def _count_config(k: int) -> SceneConfig:
    """draw_scene settings for the count task: no data-set look, exactly k items."""
    return SceneConfig(original=0.0, counts=tuple(1.0 if i == k - 1 else 0.0 for i in range(4)), noise=0.0,
                       twins=0.0)


# ----------------------------------------------------------------------------------------------------------
# evaluation


@torch.no_grad()
def text_features(model, texts: list[str], templates: tuple[str, ...] = ("{}",)) -> torch.Tensor:
    """Template-ensembled, L2-normalised text embeddings (len(texts), D) (minclip.zeroshot's recipe)."""
    return zero_shot_classifier(model, texts, templates).t().cpu()


def evaluate_task(model, task: Task, templates: tuple[str, ...] | None = None) -> dict:
    """{"task", "top1", "chance", "n"} for one task, with the task's templates or the ones given."""
    templates = templates or task.templates
    features = encode_images(model, task.images)  # (N, D)
    if task.kind == "binding":
        true = text_features(model, [p[0] for p in task.prompts], templates)  # (N, D)
        swapped = text_features(model, [p[1] for p in task.prompts], templates)
        correct = ((features * true).sum(-1) > (features * swapped).sum(-1)).float()
    else:
        weights = text_features(model, task.classnames, templates)  # (C, D)
        return {"task": task.name, "top1": topk_accuracy(features @ weights.t(), task.labels, (1,))["top1"],
                "chance": task.chance, "n": len(task.images)}
    return {"task": task.name, "top1": correct.mean().item(), "chance": task.chance, "n": len(task.images)}


@torch.no_grad()
def combo_choices(model, task: Task, templates: tuple[str, ...] | None = None) -> dict:
    """What a model answers on a colour x category task ("seen combos", "held-out combos"; classnames are the 110
    phrases, colour-major: class 10 c + k is colour c's category k): top-1, how often the chosen phrase has the
    right colour and the right category, how often it is a held-out pair, and top-1 among the held-out phrases
    alone (0 on the seen task, whose answers are never among them). A model that knows the colour and the item
    but holds to the pairs it saw answers a seen phrase of the right colour: colour high, held-out choices and
    top-1 low, top-1 among the held-out phrases high."""
    if task.classnames is None or len(task.classnames) != 10 * len(COLOURS):
        raise ValueError(f"combo_choices takes a colour x category task of {10 * len(COLOURS)} phrases, not "
                         f"{task.name!r}")
    scores = encode_images(model, task.images) @ text_features(model, task.classnames,
                                                               templates or task.templates).t()  # (N, 110)
    held = torch.tensor(sorted(10 * list(COLOURS).index(c) + k for c, k in HELDOUT_COMBOS))
    chosen, y = scores.argmax(dim=-1), task.labels
    return {"task": task.name, "top1": (chosen == y).float().mean().item(),
            "colour": (chosen // 10 == y // 10).float().mean().item(),
            "category": (chosen % 10 == y % 10).float().mean().item(),
            "chose_heldout": torch.isin(chosen, held).float().mean().item(),
            "top1_among_heldout": (held[scores[:, held].argmax(dim=-1)] == y).float().mean().item(),
            "n": len(task.images)}


def evaluate_suite(model, tasks: list[Task], templates: tuple[str, ...] | None = None) -> list[dict]:
    """One row per task (evaluate_task), in the suite's order."""
    was_training = model.training
    model.eval()
    rows = [evaluate_task(model, task, templates) for task in tasks]
    model.train(was_training)
    return rows


def plural_query_precision(model, images: torch.Tensor, categories: list[set[int]], k: int = 10,
                           queries: dict[str, int] | None = None) -> dict:
    """Text-to-image search with plural and synonym queries over a gallery: precision@k, the fraction of the top
    k images that hold an item of the query's category. `categories[i]`: the categories in image i."""
    queries = queries or PLURAL_QUERIES
    features = encode_images(model, images)
    per_query = {}
    for query, category in queries.items():
        q = text_features(model, [query])[0]  # (D,)
        top = (features @ q).topk(min(k, len(features))).indices.tolist()
        per_query[query] = sum(category in categories[i] for i in top) / len(top)
    return {"precision": sum(per_query.values()) / len(per_query), "k": k, "per_query": per_query}


# one plural or synonym query per category ("a handbag": the example)
PLURAL_QUERIES = {"t-shirts": 0, "trousers": 1, "sweaters": 2, "dresses": 3, "jackets": 4, "sandals": 5,
                  "shirts": 6, "sneakers": 7, "a handbag": 8, "boots": 9}
