"""Fashion Scenes (minclip.scenes, minclip.scene_text) and the zero-shot task suite (minclip.tasks)."""

import json
import random
import re
from dataclasses import replace

import numpy as np
import pytest
import torch

from minclip import scene_text
from minclip.datasets import collate, load_sample, to_model_input
from minclip.scene_text import COLOURS, EVAL_FRAMES, NOUNS, ORIGINAL_FRAMES, TRAIN_FRAMES, relation
from minclip.scenes import HELDOUT_COMBOS, FashionScenes, SceneConfig, mirror, render


@pytest.fixture(scope="module")
def scenes():
    return FashionScenes.sample("train", n=400)


def words(text):
    return set(text.replace(",", " ").replace(".", " ").replace("!", " ").split())


# ----------------------------------------------------------------------------------------------------------
# the grammar


def test_at_least_40_frames_and_eval_frames_never_in_training():
    assert len(TRAIN_FRAMES) >= 40
    for frame in TRAIN_FRAMES + ORIGINAL_FRAMES:
        assert "photo" not in frame, frame
    for frame in EVAL_FRAMES:
        assert "photo" in frame and frame not in TRAIN_FRAMES


def test_the_data_sets_own_label_words_are_nouns():
    singular = {s for forms in NOUNS for s, _ in forms}
    plural = {p for forms in NOUNS for _, p in forms}
    for word in ("t-shirt/top", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag",
                 "ankle boot"):
        assert word in singular
    assert {"trousers", "sneakers", "handbags", "dresses"} <= plural


@pytest.mark.parametrize(("phrase", "expected"), [("ankle boot", "an ankle boot"), ("overcoat", "an overcoat"),
                                                   ("jeans", "jeans"), ("red sneaker", "a red sneaker"),
                                                   ("blue jeans", "blue jeans"),
                                                   ("pair of trousers", "a pair of trousers"),
                                                   ("red pair of trousers", "a red pair of trousers")])
def test_article(phrase, expected):
    assert scene_text.article(phrase) == expected


def test_relation_and_position_follow_the_coordinates():
    a = {"category": 7, "colour": "red", "size": "small", "centre": (0.25, 0.5)}
    b = {"category": 8, "colour": "blue", "size": "large", "centre": (0.75, 0.5)}
    assert scene_text.relation(a, b) == "left of" and scene_text.relation(b, a) == "right of"
    assert scene_text.position(a) == "left" and scene_text.position(b) == "right"
    c = {**a, "centre": (0.5, 0.2)}
    assert scene_text.relation(c, {**b, "centre": (0.5, 0.8)}) == "above"
    assert scene_text.relation(a, {**b, "centre": (0.3, 0.55)}) is None  # too close to say


def test_a_relation_caption_is_true_of_its_scene():
    a = {"category": 7, "colour": "red", "size": "small", "centre": (0.25, 0.5)}
    b = {"category": 8, "colour": "blue", "size": "small", "centre": (0.75, 0.5)}
    rng = random.Random(0)
    for _ in range(50):
        text, swapped = scene_text.describe_relation(a, b, rng)
        assert _words(text) == _words(swapped) and text != swapped
        sneaker = min(text.find(w) for w in ("sneaker", "trainer", "shoe") if w in text)
        bag = min(text.find(w) for w in ("bag", "purse", "backpack") if w in text)
        if " right of " in text:
            assert bag < sneaker, text  # "a bag to the right of a sneaker"
        elif " left of " in text or "on the left and" in text:
            assert sneaker < bag, text


# ----------------------------------------------------------------------------------------------------------
# the data set


def test_items_are_deterministic_and_change_with_the_epoch(scenes):
    again = FashionScenes.sample("train", n=400)
    for i in (0, 7, 399):
        image, caption, label = scenes[i]
        image2, caption2, label2 = again[i]
        assert torch.equal(image, image2) and caption == caption2 and label == label2
    before = [scenes.caption(i) for i in range(20)]
    scenes.set_epoch(1)
    after = [scenes.caption(i) for i in range(20)]
    scenes.set_epoch(0)
    assert before != after


def test_shapes_and_labels(scenes):
    image, caption, label = scenes[3]
    assert image.shape == (3, 64, 64) and SceneConfig().resolution == 64  # the scenes model's input
    assert isinstance(caption, str) and caption
    one_item = [i for i in range(50) if len(scenes.scene(i)["items"]) == 1]
    several = [i for i in range(50) if len(scenes.scene(i)["items"]) > 1]
    assert one_item and several
    assert scenes[one_item[0]][2] == scenes.scene(one_item[0])["items"][0]["category"]
    assert scenes[several[0]][2] == -1


def test_heldout_combos_never_in_training():
    ds = FashionScenes.sample("train", n=3000, config=SceneConfig(noise=0.0))
    held = {(c, k) for c, k in HELDOUT_COMBOS}
    drawn = {(it["colour"], it["category"]) for i in range(len(ds)) for it in ds.scene(i)["items"]}
    assert not drawn & held
    assert {c for c, _ in drawn} >= {c for c, _ in held} and {k for _, k in drawn} >= {k for _, k in held}
    test = FashionScenes.sample("test", n=3000)
    assert {(it["colour"], it["category"]) for i in range(len(test)) for it in test.scene(i)["items"]} & held


def test_original_look_equals_fashion_mnist_input():
    ds = FashionScenes.sample("train", n=200, config=SceneConfig(original=0.99))
    i = next(i for i in range(200) if ds.scene(i)["original"])
    source = ds.scene(i)["items"][0]["source"]
    torch.testing.assert_close(ds[i][0], to_model_input(ds.pool[source], ds.config.resolution))


def test_colour_is_applied_to_the_item_and_background_contrasts():
    images, labels = load_sample()
    item = {"category": int(labels[0]), "source": 0, "colour": "red", "size": "large", "centre": (0.5, 0.5),
            "extent": 0.5}
    pixels = render({"items": [item], "background": "white", "original": False}, images, 64)  # (3, 64, 64)
    centre = pixels[:, 24:40, 24:40].reshape(3, -1)
    corner = pixels[:, :4, :4].reshape(3, -1)
    assert (corner > 0.9).all()  # white background
    red = centre[:, (centre[0] > centre[1] + 0.2)]
    assert red.shape[1] > 50  # the item is red where it is drawn


def test_mirror_reverses_relations():
    a = {"category": 7, "colour": "red", "size": "small", "centre": (0.25, 0.5), "source": 0, "extent": 0.3}
    b = {"category": 8, "colour": "blue", "size": "small", "centre": (0.75, 0.5), "source": 1, "extent": 0.3}
    flipped = mirror({"items": [a, b], "background": "black", "original": False})["items"]
    assert scene_text.relation(*flipped) == "right of"


def test_a_single_item_mirrors_along_its_side():
    item = {"category": 7, "colour": "red", "size": "small", "centre": (0.5, 0.28), "source": 0, "extent": 0.3}
    flipped = mirror({"items": [item], "background": "black", "original": False})["items"][0]
    assert scene_text.position(item) == "top" and scene_text.position(flipped) == "bottom"


def _words(caption: str) -> list[str]:
    return sorted(re.findall(r"[\w/-]+", caption))


def test_twins_share_a_batch_and_differ_in_one_thing():
    ds = FashionScenes.sample("train", n=400, config=SceneConfig(twins=0.6, original=0.0, noise=0.0))
    twins = [i for i in range(400) if ds.is_twin(i)]
    assert 80 < len(twins) < 160 and all(i % 2 == 1 for i in twins)
    kinds = {}
    for i in twins:
        kind, first, second = ds.twin_kind(i // 2), ds.scene(i - 1), ds.scene(i)
        kinds[kind] = kinds.get(kind, 0) + 1
        a, b = ds.caption(i - 1), ds.caption(i)
        if kind == "relation":  # two items whose relation the mirror reverses, the two swapped in the caption
            assert second == mirror(first) and len(second["items"]) == 2
            assert relation(*first["items"]) != relation(*second["items"]) is not None
            assert _words(a) == _words(b)
        elif kind == "position":  # one item at opposite sides, the side words exchanged
            (x,), (y,) = first["items"], second["items"]
            assert scene_text.OPPOSITE[scene_text.position(x)] == scene_text.position(y)
            assert {x["colour"], x["category"], x["source"]} == {y["colour"], y["category"], y["source"]}
            assert len(a.split()) == len(b.split()) and a != b
            changed = set(_words(a)) ^ set(_words(b))
            assert changed and changed <= {"left", "right", "top", "bottom", "upper", "lower"}
        else:  # the item in another colour on the same background, the colour word exchanged
            (x,), (y,) = first["items"], second["items"]
            assert first["background"] == second["background"] and x["colour"] != y["colour"]
            assert {**x, "colour": None} == {**y, "colour": None}
            assert (set(_words(a)) ^ set(_words(b))) - {"a", "an"} == {x["colour"], y["colour"]}
    assert set(kinds) == {"relation", "position", "colour"}
    order = ds.epoch_order(seed=0, epoch=0)
    assert sorted(order) == list(range(400))
    assert all(order[j] // 2 == order[j + 1] // 2 for j in range(0, 400, 2))


def test_colour_twins_keep_held_out_pairs_out():
    config = SceneConfig(twins=0.9, twin_kinds={"colour": 1.0}, original=0.0, noise=0.0)
    ds = FashionScenes.sample("train", n=400, config=config)
    for i in range(400):
        for item in ds.scene(i)["items"]:
            assert (item["colour"], item["category"]) not in HELDOUT_COMBOS


def test_hard_negatives_swap_the_items_of_relation_captions():
    config = SceneConfig(hard_negatives=True, original=0.0, noise=0.0, twins=0.0)
    ds = FashionScenes.sample("train", n=300, config=config)
    plain = FashionScenes.sample("train", n=300, config=replace(config, hard_negatives=False))
    swapped = 0
    for i in range(300):
        image, caption, label, negative = ds[i]
        assert len(plain[i]) == 3 and caption == plain.caption(i) == ds.caption(i)  # the option adds, changes nothing
        torch.testing.assert_close(image, plain[i][0])
        if negative:  # the same words, the items swapped: the scene's own relation no longer holds
            swapped += 1
            agree = {"is", "are"}  # "there is a bag above jeans", "there are jeans above a bag"
            assert [w for w in _words(negative) if w not in agree] == [w for w in _words(caption) if w not in agree]
            assert negative != caption
            assert any(w in caption for w in ("left", "right", "above", "below", "over", "under", "top",
                                              "higher", "beneath"))
    assert 15 < swapped < 150  # the relation captions of multi-item scenes, and only those
    batch = collate([ds[i] for i in range(8)])
    assert len(batch) == 4 and batch[3] == [ds[i][3] for i in range(8)]


def test_noise_swaps_captions():
    clean = FashionScenes.sample("train", n=300, config=SceneConfig(noise=0.0))
    noisy = FashionScenes.sample("train", n=300, config=SceneConfig(noise=0.5))
    changed = sum(clean.caption(i) != noisy.caption(i) for i in range(300))
    assert 100 < changed < 200


def test_captions_are_varied_and_fit_the_context(scenes):
    captions = [scenes.caption(i) for i in range(400)]
    assert len(set(captions)) > 0.8 * len(captions)
    lengths = [len(c.split()) for c in captions]
    assert max(lengths) < 30


@pytest.mark.parametrize(("setting", "value"), [("counts", (0, 0, 0, 0)), ("colours", ("red", "teal")),
                                                 ("noise", 1.0), ("twins", -0.1), ("original", 1.5),
                                                 ("heldout_combos", (("red", 12),)),
                                                 ("twin_kinds", {"mirror": 1.0}), ("twin_kinds", {"colour": 0.0}),
                                                 ("twin_kinds", {"colour": 1.0, "relation": -1.0}),
                                                 ("shading", (0.5, 0.2)), ("shading", (0.1, 1.5)),
                                                 ("edge", (0.5, 4.0)), ("edge", (3.0,))])
def test_impossible_settings_name_the_setting(setting, value):
    with pytest.raises(ValueError, match=setting):
        SceneConfig(**{setting: value})


def test_shading_and_edge_ranges_draw_each_items_look():
    """By default an item carries no look of its own (the stream is as it was); with ranges, each coloured item
    draws its shading and mask steepness from them, twins share their items' look, and render draws it."""
    plain = FashionScenes.sample("train", n=40, config=SceneConfig(twins=0.5))
    assert not any("shading" in it or "edge" in it for i in range(40) for it in plain.scene(i)["items"])
    config = SceneConfig(twins=0.5, shading=(0.1, 0.6), edge=(2.0, 10.0))
    varied = FashionScenes.sample("train", n=40, config=config)
    items = [(i, it) for i in range(40) if not varied.scene(i)["original"] for it in varied.scene(i)["items"]]
    assert len(items) > 20 and len({round(it["shading"], 6) for _, it in items}) > 10
    assert all(0.1 <= it["shading"] <= 0.6 and 2.0 <= it["edge"] <= 10.0 for _, it in items)
    for i in range(1, 40, 2):
        if varied.is_twin(i):
            first, second = varied.scene(i - 1)["items"], varied.scene(i)["items"]
            assert [(a["shading"], a["edge"]) for a in first] == [(b["shading"], b["edge"]) for b in second]
    i, item = items[0]
    scene = varied.scene(i)
    drawn = render(scene, varied.pool, 64)
    default = render({**scene, "items": [{k: v for k, v in it.items() if k not in ("shading", "edge")}
                                         for it in scene["items"]]}, varied.pool, 64)
    assert not torch.equal(drawn, default)
    again = render({**scene, "items": [{**it, "shading": 0.2, "edge": 10.0} for it in scene["items"]]},
                   varied.pool, 64)
    assert torch.equal(again, default)  # s = 0.2, k = 10: the stream's one look


def test_colour_twins_need_two_contrasting_colours():
    with pytest.raises(ValueError, match="twin_kinds"):
        SceneConfig(colours=("red",), backgrounds={"black": 1.0})
    SceneConfig(colours=("red",), backgrounds={"black": 1.0}, twin_kinds={"relation": 1.0})  # no colour twins


def test_bad_split_and_size():
    with pytest.raises(ValueError, match="split"):
        FashionScenes.sample("validation")
    with pytest.raises(ValueError, match="n:"):
        FashionScenes.sample(n=0)


def test_dataloader_workers_give_identical_batches():
    ds = FashionScenes.sample("train", n=64)
    order = ds.epoch_order(0, 0)
    batches = [order[i:i + 16] for i in range(0, 64, 16)]
    here = [collate([ds[i] for i in b]) for b in batches]
    loader = torch.utils.data.DataLoader(ds, batch_sampler=batches, collate_fn=collate, num_workers=2,
                                         timeout=120)  # a stuck worker fails the test, not CI
    for (x1, c1, y1), (x2, c2, y2) in zip(here, loader):
        assert torch.equal(x1, x2) and c1 == c2 and torch.equal(y1, y2)


def test_colour_names_known():
    assert len(COLOURS) == 11 and np.all([len(v) == 3 for v in COLOURS.values()])


@pytest.mark.training
def test_command_line_trains_on_scenes(tmp_path):
    """`python -m minclip.train --dataset fashion-scenes-sample`: scenes in, the scenes model's evaluation out
    (Fashion-MNIST in the data set's own class names, with prompt frames training never used), by the shipped
    model's recipe unless a flag says otherwise (here a text stage of one step, not 300, and 2 steps, not 1,900)."""
    from safetensors import safe_open

    from minclip.data import FASHION_MNIST_CLASSES
    from minclip.recipes import RECIPES
    from minclip.train_cli import build_datasets, main

    train_set, test_set, classnames, templates = build_datasets("fashion-scenes-sample", 64, seed=0)
    assert isinstance(train_set, FashionScenes) and len(test_set) == 1000 and templates == EVAL_FRAMES
    assert classnames == [scene_text.article(c.lower()) for c in FASHION_MNIST_CLASSES]
    assert main(["--dataset", "fashion-scenes-sample", "--out", str(tmp_path), "--max-steps", "2",
                 "--batch-size", "16", "--device", "cpu", "--text-steps", "1"]) == 0
    with safe_open(tmp_path / "model.safetensors", "pt") as f:
        recipe = json.loads(f.metadata()["recipe"])
    shipped = RECIPES["language-first"].to_dict()
    assert recipe == {**{k: v for k, v in shipped.items() if k != "max_steps"}, "text_steps": 1}
    assert shipped["scenes"] == "language-first" and shipped["word_order"] == 32 and shipped["max_steps"] == 1900
    history = (tmp_path / "history.json").read_text()
    assert '"step": 2' in history and '"top1"' in history
    from minclip.train import load_training_state  # the scenes schedule: bf16 autocast where the CPU has it
    assert load_training_state(tmp_path / "last.pt")["train_config"]["cpu_amp"] is True
    from minclip.load import load  # the command line builds the shipped scenes model: the cpu preset at 64 px
    assert load(tmp_path / "model.safetensors")[0].config == load("fashion-scenes-cpu")[0].config
    assert load("fashion-scenes-cpu")[0].config.image_resolution == 64


def test_heldout_categories_never_appear_in_training():
    config = SceneConfig(heldout_categories=(5,), twins=0.3)
    ds = FashionScenes.sample("train", n=400, config=config)
    words = {"sandal", "sandals", "flip-flop", "flip-flops", "open-toed", "strappy"}
    for i in range(400):
        assert all(item["category"] != 5 for item in ds.scene(i)["items"])
        assert not words & set(re.findall(r"[\w/-]+", ds.caption(i)))
    test = FashionScenes.sample("test", n=400, config=config)  # evaluation scenes still show them
    assert any(item["category"] == 5 for i in range(400) for item in test.scene(i)["items"])
    with pytest.raises(ValueError, match="heldout_categories"):
        SceneConfig(heldout_categories=tuple(range(10)))
