"""Tests for minclip.probe (linear probes, few-shot sampling) and minclip.zeroshot (classifier, retrieval)."""

import pytest
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

from minclip.captions import EVAL_TEMPLATES, zero_shot_prompts
from minclip.model import CLIP, CLIPConfig
from minclip.probe import extract_features, few_shot_indices, probe_accuracy, train_linear_probe
from minclip.scene_text import EVAL_FRAMES
from minclip.zeroshot import encode_images, retrieval_recall, topk_accuracy, zero_shot_classifier, zero_shot_eval
from tests.script_modules import load_script

TINY = CLIPConfig(embed_dim=32, image_resolution=32, vision_layers=(1, 1, 1, 1), vision_width=8, vision_patch_size=None,
                  context_length=16, transformer_width=32, transformer_heads=1,
                  transformer_layers=1)


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    return CLIP(TINY).eval()


def separable(n_per_class=50, classes=4, dim=16, seed=0):
    """Gaussian blobs around well-separated class means."""
    g = torch.Generator().manual_seed(seed)
    means = torch.eye(classes, dim) * 5
    labels = torch.arange(classes).repeat_interleave(n_per_class)
    return means[labels] + 0.3 * torch.randn(len(labels), dim, generator=g), labels


def test_probe_separates_separable_features():
    x, y = separable()
    probe = train_linear_probe(x, y, num_classes=4, seed=0)
    assert probe.weight.shape == (4, 16)
    assert probe_accuracy(probe, x, y) == 1.0
    xt, yt = separable(seed=1)
    assert probe_accuracy(probe, xt, yt) > 0.99


def test_probe_is_deterministic_given_seed():
    x, y = separable(n_per_class=3)
    a, b = train_linear_probe(x, y, 4, seed=3), train_linear_probe(x, y, 4, seed=3)
    torch.testing.assert_close(a.weight, b.weight, rtol=0, atol=0)


def test_probe_rejects_mismatched_input():
    with pytest.raises(ValueError):
        train_linear_probe(torch.zeros(5, 3), torch.zeros(4, dtype=torch.long), 2)


@pytest.mark.parametrize("shots", [1, 2, 5])
def test_few_shot_indices_k_per_class_and_deterministic(shots):
    labels = torch.arange(10).repeat(20)[torch.randperm(200, generator=torch.Generator().manual_seed(0))]
    idx = few_shot_indices(labels, shots, seed=7)
    assert len(idx) == len(set(idx.tolist())) == 10 * shots
    assert torch.bincount(labels[idx], minlength=10).tolist() == [shots] * 10
    assert torch.equal(idx, few_shot_indices(labels, shots, seed=7))
    assert not torch.equal(idx, few_shot_indices(labels, shots, seed=8))


def test_few_shot_indices_bad_input():
    with pytest.raises(ValueError):
        few_shot_indices(torch.tensor([0, 0, 1]), shots=2)
    with pytest.raises(ValueError):
        few_shot_indices(torch.tensor([0, 1]), shots=0)


def test_extract_features_normalised(tiny):
    images, labels = torch.randn(6, 3, 32, 32), torch.arange(6)
    loader = DataLoader(TensorDataset(images, torch.zeros(6), labels), batch_size=4)
    x, y = extract_features(tiny, loader, progress=False)
    assert x.shape == (6, 32) and x.dtype == torch.float32
    torch.testing.assert_close(x.norm(dim=-1), torch.ones(6))
    assert torch.equal(y, labels)


def test_zero_shot_single_template_is_the_prompt_embedding(tiny):
    classifier = zero_shot_classifier(tiny, ["cat", "dog"], ["a photo of a {}."])
    with torch.no_grad():
        expected = F.normalize(tiny.encode_text(tiny.tokenize(["a photo of a cat.", "a photo of a dog."])), dim=-1)
    torch.testing.assert_close(classifier, expected.t())


def test_zero_shot_ensemble_is_normalised_mean(tiny):
    templates = ["a photo of a {}.", "{}", "itap of a {}."]
    classifier = zero_shot_classifier(tiny, ["cat", "dog", "bird"], templates)
    assert classifier.shape == (32, 3)
    torch.testing.assert_close(classifier.norm(dim=0), torch.ones(3))
    with torch.no_grad():
        each = F.normalize(tiny.encode_text(tiny.tokenize([t.format("dog") for t in templates])), dim=-1)
    torch.testing.assert_close(classifier[:, 1], F.normalize(each.mean(0), dim=0))


def test_the_prompts_scored_are_the_prompts_tested(tiny):
    """zero_shot_classifier once filled "a photo of a {}." with str.format: "a photo of a ankle boot.", while
    captions.zero_shot_prompts (and its tests) say "a photo of an ankle boot."."""
    names = ["ankle boot", "trousers", "bag"]
    classifier = zero_shot_classifier(tiny, names, EVAL_TEMPLATES)
    with torch.no_grad():
        for c, prompts in enumerate(zero_shot_prompts(names, EVAL_TEMPLATES)):
            each = F.normalize(tiny.encode_text(tiny.tokenize(prompts)), dim=-1)
            torch.testing.assert_close(classifier[:, c], F.normalize(each.mean(0), dim=0))
    assert zero_shot_prompts(names, EVAL_TEMPLATES)[0][0] == "a photo of an ankle boot."


def test_full_phrases_fill_slots_without_an_article(tiny):
    """minclip.tasks passes whole phrases ("a red bag on the left") with frames such as "a photo of {}."."""
    classifier = zero_shot_classifier(tiny, ["a red bag"], EVAL_FRAMES[:1])
    with torch.no_grad():
        expected = F.normalize(tiny.encode_text(tiny.tokenize([EVAL_FRAMES[0].format("a red bag")])), dim=-1)
    torch.testing.assert_close(classifier, expected.t())


def test_topk_accuracy_in_fractions():
    scores = torch.tensor([[0.1, 0.9, 0.0], [0.8, 0.2, 0.1], [0.1, 0.2, 0.7]])
    assert topk_accuracy(scores, torch.tensor([1, 1, 0]), (1, 2, 5)) == pytest.approx({"top1": 1 / 3, "top2": 2 / 3})
    with pytest.raises(ValueError, match="scores"):
        topk_accuracy(scores, torch.tensor([1, 1]))


def test_encode_images_in_batches_equals_one_batch(tiny):
    images = torch.randn(5, 3, 32, 32)
    torch.testing.assert_close(encode_images(tiny, images, batch_size=2), encode_images(tiny, images))


@pytest.mark.parametrize("classnames, templates", [([], ["{}"]), (["cat"], []), (["cat"], ["a photo"]),
                                                   (["cat"], ["{} and {}"])])
def test_zero_shot_bad_input(tiny, classnames, templates):
    with pytest.raises(ValueError):
        zero_shot_classifier(tiny, classnames, templates)


def test_zero_shot_eval_top1_top5(tiny):
    images, labels = torch.randn(5, 3, 32, 32), torch.tensor([0, 1, 0, 1, 0])
    classifier = zero_shot_classifier(tiny, ["cat", "dog"], ["{}"])
    loader = DataLoader(TensorDataset(images, torch.zeros(5), labels), batch_size=2)
    result = zero_shot_eval(tiny, loader, classifier, progress=False)
    assert set(result) == {"top1", "n"} and result["n"] == 5  # top-5 dropped: only 2 classes
    assert 0.0 <= result["top1"] <= 1.0


def test_retrieval_recall_identity_and_shuffled():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(20, 8, generator=g)
    perfect = retrieval_recall(x, x)
    assert all(v == 1.0 for v in perfect.values())
    shuffled = retrieval_recall(x, x[torch.roll(torch.arange(20), 1)])
    assert shuffled["image_to_text_R@1"] < 1.0 and shuffled["text_to_image_R@1"] < 1.0
    assert shuffled["image_to_text_R@1"] <= shuffled["image_to_text_R@5"] <= shuffled["image_to_text_R@10"]


# ---- scripts/measure_probes.py: zero-shot against few-shot probes, task by task (chapter 9)


def test_shots_a_prompt_is_worth():
    worth = load_script("measure_probes").worth
    shots = [1, 2, 4, 8, 16]
    assert worth(shots, [0.5, 0.6, 0.7, 0.8, 0.9], 0.4) == 0.0  # one example per class already beats zero-shot
    assert worth(shots, [0.5, 0.6, 0.7, 0.8, 0.9], 0.7) == 4.0  # reached exactly at 4
    assert worth(shots, [0.5, 0.6, 0.7, 0.8, 0.9], 0.75) == pytest.approx(2 ** 2.5, abs=0.01)  # 4 to 8, in log2
    assert worth(shots, [0.5, 0.6, 0.7, 0.8, 0.9], 0.95) is None  # never within the measured range
