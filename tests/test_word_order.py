"""The text-side word-order term (minclip.word_order): its sentences, its loss, and training with it."""

import random

import pytest
import torch

from minclip.model import CLIP, CLIPConfig
from minclip.scenes import FashionScenes, SceneConfig
from minclip.train import TrainConfig, train
from minclip.word_order import WordOrderStep, converse_over_swap, converse_triples, word_order_loss

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


@pytest.mark.training
def test_training_with_the_term_teaches_the_text_tower_word_order_and_resumes_exactly(tmp_path):
    sample = sample_scenes()
    two = torch.from_numpy((sample.labels == 0) | (sample.labels == 7))  # t-shirts and sneakers: a small world
    scenes = FashionScenes("test", n=1000, config=SceneConfig(resolution=32), images=sample.pool[two],
                           labels=sample.labels[two.numpy()])
    held_out = converse_triples(scenes.labels, "test", random.Random(99), 300)
    config = TrainConfig(epochs=1, batch_size=8, lr=3e-3, warmup_steps=10, device="cpu")

    def run(out, resume=False, seed=0, data=scenes):
        torch.manual_seed(seed)
        model = CLIP(TINY)
        train(model, data, config, out, resume=resume, progress=False,
              objective=WordOrderStep(model, scenes, triples=32, weight=5.0))
        return model

    untrained = CLIP(TINY)
    model = run(tmp_path / "a")
    before, after = converse_over_swap(untrained, held_out), converse_over_swap(model, held_out)
    assert before < 0.5 and after > 0.85, (before, after)  # a bag of words prefers the swap; training, the converse

    class StopAt(torch.utils.data.Dataset):  # Ctrl-C at batch 60 of 125
        def __init__(self):
            self.calls = 0

        def __len__(self):
            return len(scenes)

        def __getitem__(self, i):
            self.calls += 1
            if self.calls == 60 * 8 + 1:
                raise KeyboardInterrupt
            return scenes[i]

    with pytest.raises(KeyboardInterrupt):
        run(tmp_path / "b", data=StopAt())
    resumed = run(tmp_path / "b", resume=True, seed=123)
    for (name, a), b in zip(model.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), name
