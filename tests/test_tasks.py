"""The zero-shot task suite (minclip.tasks): what each task holds, and that scoring counts what it should."""

import pytest
import torch

from minclip.datasets import load_sample
from minclip.scene_text import EVAL_FRAMES, TRAIN_FRAMES
from minclip.scenes import HELDOUT_COMBOS
from minclip.tasks import (
    CATEGORY,
    ITEM_CLASSES,
    Task,
    build_tasks,
    combo_choices,
    evaluate_task,
    plural_query_precision,
)
from tests.script_modules import load_script


@pytest.fixture(scope="module")
def tasks():
    images, labels = load_sample()
    return {t.name: t for t in build_tasks((images, labels), n=24, resolution=64)}


class LookupModel(torch.nn.Module):
    """A stand-in CLIP whose embeddings are looked up: images by their pixels, texts by their string."""

    def __init__(self, image_vectors, text_vector):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(1))
        self.image_vectors, self.text_vector, self.texts = image_vectors, text_vector, []

    def tokenize(self, texts, truncate=False):
        self.texts.extend(texts)
        return torch.arange(len(self.texts) - len(texts), len(self.texts))

    def encode_text(self, tokens):
        return torch.stack([self.text_vector(self.texts[int(i)]) for i in tokens])

    def encode_image(self, images):
        return torch.stack([self.image_vectors[hash(im.numpy().tobytes())] for im in images])


def test_the_suite_names_and_chance_levels(tasks):
    assert list(tasks) == ["fashion-mnist", "colour", "count", "position", "size", "seen combos",
                           "held-out combos", "binding"]
    assert tasks["fashion-mnist"].chance == 0.1 and len(tasks["fashion-mnist"].images) == 1000
    assert tasks["colour"].chance == pytest.approx(1 / 11) and tasks["count"].chance == 0.25
    assert tasks["held-out combos"].chance == pytest.approx(1 / 110) and tasks["binding"].chance == 0.5
    assert tasks["fashion-mnist"].classnames[:2] == ["a t-shirt/top", "a trouser"]
    for task in tasks.values():
        assert task.templates == EVAL_FRAMES and not set(task.templates) & set(TRAIN_FRAMES)
        assert task.images.shape[1:] == (3, 64, 64) or task.name == "fashion-mnist"


def test_held_out_task_shows_only_held_out_pairs(tasks):
    task = tasks["held-out combos"]
    names = {task.classnames[int(y)] for y in task.labels}
    expected = {f"{c} {CATEGORY[k]}" for c, k in HELDOUT_COMBOS}
    assert {n.split(" ", 1)[1] for n in names} <= expected
    seen = {tasks["seen combos"].classnames[int(y)].split(" ", 1)[1] for y in tasks["seen combos"].labels}
    assert not seen & expected


def test_binding_prompts_are_swaps(tasks):
    for true, swapped in tasks["binding"].prompts:
        assert set(true.split()) == set(swapped.split()) and true != swapped


def _oracle(task, flip=False):
    """A model that knows each image's class (or the true binding caption); flip=True gets binding backwards."""
    d = 128
    image_vectors = {hash(im.numpy().tobytes()): torch.eye(d)[i % d] for i, im in enumerate(task.images)}
    if task.kind == "binding":
        truth = {(p[1] if flip else p[0]): i for i, p in enumerate(task.prompts)}
        return LookupModel(image_vectors, lambda text: torch.eye(d)[truth[text] % d] if text in truth
                           else torch.zeros(d) + 0.01)
    label_of = {hash(im.numpy().tobytes()): int(y) for im, y in zip(task.images, task.labels)}
    image_vectors = {h: torch.eye(d)[y] for h, y in label_of.items()}
    return LookupModel(image_vectors, lambda text: torch.eye(d)[task.classnames.index(text)])


@pytest.mark.parametrize("name", ["colour", "count", "position", "size", "held-out combos"])
def test_an_oracle_scores_one(tasks, name):
    task = tasks[name]
    row = evaluate_task(_oracle(task), task, templates=("{}",))
    assert row == {"task": name, "top1": 1.0, "chance": task.chance, "n": 24}


def test_combo_choices_tell_a_wrong_item_from_a_preference_for_seen_pairs(tasks):
    task = tasks["held-out combos"]
    assert combo_choices(_oracle(task), task, templates=("{}",)) == {
        "task": "held-out combos", "top1": 1.0, "colour": 1.0, "category": 1.0, "chose_heldout": 1.0,
        "top1_among_heldout": 1.0, "n": 24}
    # a model that sees the right pair but likes the seen pair of the same colour and the next category better
    seen_neighbour = {hash(im.numpy().tobytes()): 0.9 * torch.eye(128)[int(y)] + torch.eye(128)[10 * (int(y) // 10)
                                                                                                 + (int(y) + 1) % 10]
                      for im, y in zip(task.images, task.labels)}
    biased = LookupModel(seen_neighbour, lambda text: torch.eye(128)[task.classnames.index(text)])
    assert combo_choices(biased, task, templates=("{}",)) == {
        "task": "held-out combos", "top1": 0.0, "colour": 1.0, "category": 0.0, "chose_heldout": 0.0,
        "top1_among_heldout": 1.0, "n": 24}
    with pytest.raises(ValueError, match="colour x category task of 110 phrases, not 'colour'"):
        combo_choices(biased, tasks["colour"])


def test_binding_counts_which_caption_wins(tasks):
    task = tasks["binding"]
    assert evaluate_task(_oracle(task), task, templates=("{}",))["top1"] == 1.0
    assert evaluate_task(_oracle(task, flip=True), task, templates=("{}",))["top1"] == 0.0


def test_plural_query_precision_counts_the_top_k():
    images = torch.arange(20, dtype=torch.float32).view(20, 1, 1, 1).expand(20, 3, 2, 2).contiguous()
    categories = [{7} if i < 10 else {8} for i in range(20)]
    vectors = {hash(im.numpy().tobytes()): torch.tensor([1.0, 0.0]) if i < 10 else torch.tensor([0.0, 1.0])
               for i, im in enumerate(images)}
    model = LookupModel(vectors, lambda text: torch.tensor([1.0, 0.1]) if "sneaker" in text else
                        torch.tensor([0.1, 1.0]))
    result = plural_query_precision(model, images, categories, k=10, queries={"sneakers": 7, "a handbag": 8,
                                                                             "bags": 7})
    assert result["per_query"] == {"sneakers": 1.0, "a handbag": 1.0, "bags": 0.0}
    assert result["precision"] == pytest.approx(2 / 3)


def test_task_dataclass_defaults():
    task = Task("x", torch.zeros(1, 3, 8, 8), 0.5, torch.zeros(1, dtype=torch.long), ["a"])
    assert task.kind == "classify" and task.templates == EVAL_FRAMES


# ---- scripts/measure_binding.py's text side: does "left" bind to the item or add to any item alike?


def _item_and_side(text: str) -> tuple[int, str]:
    [(item, side)] = [(k, s) for k, c in enumerate(ITEM_CLASSES) for s in ("left", "right")
                      if f"{c} on the {s}" in text]
    return item, side


def test_side_directions_tell_an_added_side_from_a_bound_one():
    side_directions = load_script("measure_binding").side_directions
    axes = torch.eye(16)  # items on axes 0-9, sides on 10 and 11: every sum has the same norm, so normalising
    items, sides = 3 * axes[:10], {"left": axes[10], "right": axes[11]}  # keeps it a sum
    g = torch.Generator().manual_seed(0)
    bound = {(k, s): torch.randn(16, generator=g) for k in range(10) for s in ("left", "right")}

    def added(text):  # a bag of words: the item's vector plus the side's, whatever the item
        item, side = _item_and_side(text)
        return items[item] + sides[side]

    def conjoined(text):  # a vector of its own for each (item, side)
        return bound[_item_and_side(text)]

    alike = side_directions(LookupModel({}, added))
    assert alike == {"mean cosine": pytest.approx(1.0, abs=1e-4), "least cosine": pytest.approx(1.0, abs=1e-4)}
    apart = side_directions(LookupModel({}, conjoined))
    assert abs(apart["mean cosine"]) < 0.4 and apart["least cosine"] < apart["mean cosine"]
