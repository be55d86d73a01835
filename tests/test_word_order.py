"""The text-side word-order term (minclip.word_order): its sentences, its loss, and training with it."""

import json
import os
import random
import re

import pytest
import torch

from minclip.model import CLIP, CLIPConfig
from minclip.scenes import FashionScenes, SceneConfig
from minclip.train import ContrastiveStep, TrainConfig, TrainingDiverged, train
from minclip.word_order import (
    WordOrderStep,
    converse_over_swap,
    converse_triples,
    teach_word_order,
    word_order_loss,
)

TINY = CLIPConfig(embed_dim=32, image_resolution=32, vision_layers=(1, 1, 1, 1), vision_width=8, vision_patch_size=None,
                  context_length=24, transformer_width=48, transformer_heads=2, transformer_layers=2)


def sample_scenes(n=64):
    return FashionScenes.sample("test", n=n, config=SceneConfig(resolution=32))


def test_a_swap_has_the_captions_words_and_a_converse_tells_the_same_relation_from_the_other_item():
    scenes = sample_scenes()
    triples = converse_triples(scenes.labels, "test", random.Random(0), 200)
    assert triples == converse_triples(scenes.labels, "test", random.Random(0), 200)  # a pure function of the rng
    for caption, converse, swap in triples:
        assert sorted(caption.split()) == sorted(swap.split()) and caption != swap  # a bag of words: the same
        assert converse != swap  # the converse may repeat the caption: "on the left and ... on the right"
    relations = " ".join(c for t in triples for c in t)
    assert all(word in relations for word in ("left", "right", "above", "below"))


def test_framed_triples_put_all_three_sentences_in_one_frame_and_keep_the_swaps_words():
    scenes = sample_scenes()
    bare = converse_triples(scenes.labels, "test", random.Random(3), 200)
    assert converse_triples(scenes.labels, "test", random.Random(3), 200, framed=0.0) == bare  # off by default
    framed = converse_triples(scenes.labels, "test", random.Random(3), 200, framed=1.0)
    for caption, _, swap in framed:  # the same words, a frame's punctuation aside ("..., nothing else")
        assert sorted(re.findall(r"[\w'-]+", caption)) == sorted(re.findall(r"[\w'-]+", swap)) and caption != swap

    def in_one_frame(triples) -> float:  # the three share a frame: a common start and end of 6 characters or more
        shared = [len(os.path.commonprefix(t)) + len(os.path.commonprefix([s[::-1] for s in t])) for t in triples]
        return sum(n >= 6 for n in shared) / len(triples)

    assert in_one_frame(bare) < 0.3 and in_one_frame(framed) > 0.9  # ("{} in stock", "a photo of {}." ...)


def test_the_loss_is_low_when_captions_sit_on_their_converses_and_high_when_on_their_swaps():
    torch.manual_seed(0)
    caption = torch.nn.functional.normalize(torch.randn(16, 64), dim=-1)
    other = torch.nn.functional.normalize(torch.randn(16, 64), dim=-1)
    right = torch.stack([caption, caption, other], dim=1).view(48, 64)  # converse = caption
    wrong = torch.stack([caption, other, caption], dim=1).view(48, 64)  # swap = caption
    assert word_order_loss(right) < 0.01 < 5.0 < word_order_loss(wrong)


def test_word_order_step_draws_the_same_sentences_for_the_same_step_and_others_for_the_next():
    scenes = sample_scenes()
    torch.manual_seed(0)
    step = WordOrderStep(CLIP(TINY), scenes, triples=8)
    step.set_step(5)
    first = step.extra_texts()
    step.set_step(6)
    assert len(first) == 24 and step.extra_texts() != first
    step.set_step(5)
    assert step.extra_texts() == first
    with pytest.raises(ValueError, match="triples >= 1"):
        WordOrderStep(CLIP(TINY), scenes, triples=0)
    framed = WordOrderStep(CLIP(TINY), scenes, triples=8, framed=1.0)
    framed.set_step(5)
    assert framed.extra_texts() == [t for triple in converse_triples(scenes.labels, scenes.split,
                                                                     random.Random(5), 8, 1.0) for t in triple]
    with pytest.raises(ValueError, match="framed and colour_p are fractions"):
        WordOrderStep(CLIP(TINY), scenes, framed=1.5)
    with pytest.raises(ValueError, match="framed and colour_p are fractions"):
        WordOrderStep(CLIP(TINY), scenes, colour_p=-0.1)
    with pytest.raises(ValueError, match="every >= 1"):
        WordOrderStep(CLIP(TINY), scenes, every=0)


def test_a_term_on_every_third_step_leaves_the_others_to_clips_loss_alone():
    scenes = sample_scenes()
    torch.manual_seed(0)
    model = CLIP(TINY)
    every, plain = WordOrderStep(model, scenes, triples=8, every=3), WordOrderStep(model, scenes, triples=8)
    batch = [scenes[i] for i in range(16)]
    batch = (torch.stack([b[0] for b in batch]), [b[1] for b in batch])

    def forward(images, tokens):
        return model.encode_image(images), model.encode_text(tokens)

    for step in range(4):
        every.set_step(step)
        plain.set_step(step)
        assert every.extra_texts() == (plain.extra_texts() if step % 3 == 0 else [])  # the same sentences on its steps
        with torch.no_grad():
            loss = every.loss(forward, batch, lambda x, made_here=False: x)
            clip_only = ContrastiveStep(model).loss(forward, batch, lambda x, made_here=False: x)
        assert (loss > clip_only + 1e-4) if step % 3 == 0 else torch.equal(loss, clip_only)
    assert every.settings()["word_order"]["every"] == 3 and "every" not in plain.settings()["word_order"]


def test_colourless_triples_name_no_colour_and_still_tell_the_items_apart():
    from minclip.scene_text import COLOUR_WORDS

    scenes = sample_scenes()
    words = {w for names in COLOUR_WORDS.values() for w in names}
    coloured = converse_triples(scenes.labels, "test", random.Random(2), 300)
    bare = converse_triples(scenes.labels, "test", random.Random(2), 300, colour_p=0.0)

    def named(triples):
        return sum(any(w in words for w in re.findall(r"[a-z]+", t[0])) for t in triples)

    assert named(bare) == 0 < 150 < named(coloured)  # captions name a colour in 70% of noun phrases
    assert all(t[2] != t[0] for t in bare)  # a swap that reads as the caption (two sneakers) is skipped
    step = WordOrderStep(CLIP(TINY), scenes, triples=8, colour_p=0.0)
    assert step.settings()["word_order"]["colour_p"] == 0.0 and "colour_p" not in WordOrderStep(
        CLIP(TINY), scenes).settings()["word_order"]  # a checkpoint of the default records what it always did


def two_category_world(n=1000):
    """Scenes of t-shirts and sneakers only, from the committed sample: a small world a tiny model learns fast."""
    sample = sample_scenes()
    two = torch.from_numpy((sample.labels == 0) | (sample.labels == 7))
    return FashionScenes("test", n=n, config=SceneConfig(resolution=32), images=sample.pool[two],
                         labels=sample.labels[two.numpy()])


def train_tiny(scenes, out=None, resume=False, seed=0, word_order=True, data=None):
    torch.manual_seed(seed)
    model = CLIP(TINY)
    objective = WordOrderStep(model, scenes, triples=32, weight=5.0) if word_order else ContrastiveStep(model)
    train(model, data or scenes, TrainConfig(epochs=1, batch_size=8, lr=3e-3, warmup_steps=10, device="cpu"), out,
          resume=resume, progress=False, objective=objective)
    return model


@pytest.mark.training
def test_the_term_not_clip_training_moves_the_text_tower_from_a_bag_of_words_towards_word_order():
    scenes = two_category_world(n=2000)
    held_out = converse_triples(scenes.labels, "test", random.Random(99), 300)
    torch.manual_seed(0)
    before = converse_over_swap(CLIP(TINY), held_out)
    clip_only = converse_over_swap(train_tiny(scenes, word_order=False), held_out)
    with_term = converse_over_swap(train_tiny(scenes), held_out)
    # untrained, a caption sits nearer its swap (more shared words); 250 CLIP steps leave it below chance; the term
    # moves it well past that (a tiny model learns word order slowly: chapter 7 trains the real one for longer;
    # after 125 steps the margin was a few points, within what a change of arithmetic moves)
    assert before < 0.4 and with_term > max(0.55, clip_only + 0.1), (before, clip_only, with_term)


@pytest.mark.training
def test_a_run_with_the_term_resumes_exactly_where_it_stopped(tmp_path):
    scenes = two_category_world(n=200)  # 25 steps

    class StopAt(torch.utils.data.Dataset):  # Ctrl-C at batch 13 of 25; the scenes' epoch order and seeding kept
        def __init__(self):
            self.calls, self.epoch_order, self.set_epoch = 0, scenes.epoch_order, scenes.set_epoch

        def __len__(self):
            return len(scenes)

        def __getitem__(self, i):
            self.calls += 1
            if self.calls == 12 * 8 + 1:
                raise KeyboardInterrupt
            return scenes[i]

    whole = train_tiny(scenes, tmp_path / "a")
    with pytest.raises(KeyboardInterrupt):
        train_tiny(scenes, tmp_path / "b", data=StopAt())
    resumed = train_tiny(scenes, tmp_path / "b", resume=True, seed=123)  # the seed is the checkpoint's, not this
    for (name, a), b in zip(whole.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), name


@pytest.mark.training
def test_the_command_line_adds_the_term_on_scenes_when_asked_and_resumes_only_with_it(tmp_path, capsys):
    from minclip.train_cli import main

    assert main(["--dataset", "fashion-scenes-sample", "--recipe", "plain", "--word-order", "4", "--out",
                 str(tmp_path), "--max-steps", "2", "--batch-size", "16", "--device", "cpu"]) == 0
    history = json.loads((tmp_path / "history.json").read_text())
    assert history[-1]["step"] == 2 and 0.0 < history[-1]["word_order_loss"] < 10.0
    with pytest.raises(SystemExit) as refused:  # resumed without the term it was trained with
        main(["--dataset", "fashion-scenes-sample", "--recipe", "plain", "--out", str(tmp_path), "--max-steps", "2",
              "--batch-size", "16", "--device", "cpu", "--resume"])
    assert refused.value.code == 2 and "--word-order" in capsys.readouterr().err
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "last.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(SystemExit) as refused:  # a damaged checkpoint: one sentence, no traceback
        main(["--dataset", "fashion-scenes-sample", "--out", str(tmp_path / "bad"), "--resume", "--device", "cpu"])
    assert refused.value.code == 2 and "not a minclip training checkpoint" in capsys.readouterr().err


@pytest.mark.training
def test_resuming_with_another_objective_is_refused_and_names_both(tmp_path):
    scenes = two_category_world(n=64)  # 8 steps
    train_tiny(scenes, tmp_path)
    with pytest.raises(ValueError, match="ContrastiveStep") as refused:
        train_tiny(scenes, tmp_path, resume=True, word_order=False)
    assert "WordOrderStep" in str(refused.value) and "'triples': 32" in str(refused.value)
    train_tiny(scenes, tmp_path, resume=True)  # the same objective resumes (here: a finished run, no step left)


@pytest.mark.training
def test_the_text_stage_teaches_word_order_to_the_text_tower_alone_and_repeats_itself():
    scenes = two_category_world(n=64)
    held_out = converse_triples(scenes.labels, "test", random.Random(99), 300)

    def taught(seed=0, steps=150):
        torch.manual_seed(0)
        model = CLIP(TINY)
        teach_word_order(model, scenes, steps, triples=64, lr=5e-3, seed=seed)
        return model

    torch.manual_seed(0)
    untrained = CLIP(TINY)
    model = taught()
    for (name, before), after in zip(untrained.state_dict().items(), model.state_dict().values()):
        text_side = not name.startswith("visual.") and name != "logit_scale"
        assert torch.equal(before, after) != text_side, name  # the text tower moved, nothing else did
    before, after = converse_over_swap(untrained, held_out), converse_over_swap(model, held_out)
    assert before < 0.4 and after > 0.6, (before, after)  # a caption nearer its swap, then its converse
    again, other = taught(steps=5), taught(seed=1, steps=5)
    assert torch.equal(again.text_projection, taught(steps=5).text_projection)  # the same seed, the same run
    assert not torch.equal(again.text_projection, other.text_projection)  # another seed, other triples
    with pytest.raises(ValueError, match="steps >= 0, triples >= 1 and lr > 0"):
        teach_word_order(model, scenes, 5, triples=0)
    model.encode_text = lambda tokens: torch.full((len(tokens), TINY.embed_dim), float("nan"))
    with pytest.raises(TrainingDiverged, match="word-order loss is nan at step 1 of the text stage"):
        teach_word_order(model, scenes, 5)


@pytest.mark.training
def test_the_command_line_teaches_word_order_first_then_trains_on_the_binding_stream(tmp_path, monkeypatch):
    from safetensors import safe_open

    import minclip.train_cli as cli
    from minclip.train_cli import build_datasets, main

    assert build_datasets("fashion-scenes-sample", 64, 0, "binding")[0].config == SceneConfig.binding(resolution=64)
    assert not build_datasets("fashion-scenes-sample", 64, 0)[0].config.hard_negatives  # the plain stream
    flags = ["--dataset", "fashion-scenes-sample", "--out", str(tmp_path), "--batch-size", "16", "--device", "cpu",
             "--text-steps", "2", "--word-order", "4", "--scenes", "binding", "--word-order-weight", "1.5",
             "--triple-colours", "0", "--word-order-every", "2"]
    colours = []
    monkeypatch.setattr(cli, "WordOrderStep", lambda *a, **k: colours.append((k["colour_p"], k["every"])) or
                        WordOrderStep(*a, **k))
    assert main([*flags, "--max-steps", "1"]) == 0
    with safe_open(tmp_path / "model.safetensors", "pt") as f:
        assert json.loads(f.metadata()["recipe"]) == {"text_steps": 2, "word_order": 4, "word_order_weight": 1.5,
                                                      "word_order_every": 2, "triple_colours": 0.0,
                                                      "scenes": "binding"}
    assert colours == [(0.0, 2)]
    calls = []
    real = cli.teach_word_order
    monkeypatch.setattr(cli, "teach_word_order", lambda *a, **k: calls.append(a) or real(*a, **k))
    assert main([*flags, "--max-steps", "2", "--resume"]) == 0  # the checkpoint's text tower has had its stage
    assert calls == [] and json.loads((tmp_path / "history.json").read_text())[-1]["step"] == 2
