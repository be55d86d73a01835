"""The predictive objectives of the paper's figure 2 and zero-shot scoring by likelihood (minclip.objectives)."""

import math

import pytest
import torch

from minclip.datasets import SyntheticShapes
from minclip.model import CLIP, CLIPConfig
from minclip.objectives import (
    BagOfWordsCLIP,
    BagOfWordsPredictor,
    BagOfWordsStep,
    CaptionLM,
    CaptionLMStep,
    efficiency,
    evaluate_objective,
    images_to_reach,
    objective_step,
    score_classes,
    score_pairs,
)
from minclip.tasks import Task
from minclip.train import TrainConfig, train

TINY = CLIPConfig(embed_dim=32, image_resolution=32, vision_layers=(1, 1, 1, 1), vision_width=8, vision_patch_size=None,
                  context_length=16, transformer_width=32, transformer_heads=1, transformer_layers=1)


def models(seed=0):
    torch.manual_seed(seed)
    return {"lm": CaptionLM(CLIP(TINY)).eval(), "bow": BagOfWordsPredictor(CLIP(TINY)).eval(),
            "clip": CLIP(TINY).eval()}


def test_the_language_model_is_causal_and_reads_the_image():
    lm = models()["lm"]
    images = torch.randn(1, 3, 32, 32).repeat(2, 1, 1, 1)  # one image, twice
    tokens = lm.tokenize(["a red circle in the top left", "a red circle in the top right"])
    with torch.no_grad():
        logits = lm(images, tokens)  # (2, T, V)
        other = lm(torch.randn(2, 3, 32, 32), tokens)
    # the captions differ only in their last word: every prediction before it is the same
    last = int(tokens[0].argmax()) - 1  # the position of the last word
    torch.testing.assert_close(logits[0, :last], logits[1, :last])
    assert not torch.allclose(logits[0, last], logits[1, last])
    assert not torch.allclose(logits[0, 0], other[0, 0])  # the first word already depends on the image


def test_log_likelihood_is_the_sum_of_next_token_log_probabilities():
    lm = models()["lm"]
    images = torch.randn(3, 3, 32, 32)
    texts = ["a square", "a small green triangle in the bottom left", "circle"]
    tokens = lm.tokenize(texts)
    with torch.no_grad():
        features = lm.encode_image(images)
        got = lm.log_likelihood(features, tokens)
        for i in range(3):  # naive: one caption at a time, its own length, step by step
            ids = tokens[i, :int(tokens[i].argmax()) + 1]
            logits = lm.logits_from_features(features[i:i + 1], ids[None])[0]  # (T, V)
            expected = sum(logits[t].log_softmax(-1)[ids[t + 1]] for t in range(len(ids) - 1))
            torch.testing.assert_close(got[i], expected)


def test_the_bag_of_words_forgets_order_and_counts_repeats():
    bow = models()["bow"]
    tokens = bow.tokenize(["a red square", "square red a", "a red red square"])
    bags = bow.bags(tokens)
    assert torch.equal(bags[0], bags[1]) and bags[0].sum() == 3 and bags[2].sum() == 4
    assert bags[:, tokens[0, 0]].sum() == 0 and bags[:, tokens[0].max()].sum() == 0  # no start or end token
    features = torch.randn(3, 32)
    ll = bow.log_likelihood(features, tokens)
    logp = bow.head(features).log_softmax(-1)
    torch.testing.assert_close(ll[2], logp[2, tokens[2, 1:5]].sum())
    torch.testing.assert_close(ll[0], logp[0, tokens[0, 1:4]].sum())


@pytest.mark.parametrize("kind", ["lm", "bow", "clip"])
def test_scores_are_those_of_each_prompt_on_its_own(kind):
    model = models()[kind]
    images = torch.randn(3, 3, 32, 32)
    classes, templates = ["red circle", "blue square"], ("a photo of a {}.", "a {} in a drawing")
    scores = score_classes(model, images, classes, templates)
    assert scores.shape == (3, 2)
    for c, name in enumerate(classes):
        per_image = score_pairs(model, images, [name] * 3, templates)
        torch.testing.assert_close(scores[:, c], per_image, atol=1e-5, rtol=1e-5)
    if kind != "clip":  # a predictive model's class score: the mean log-likelihood of its prompts
        one = score_pairs(model, images, ["a photo of a red circle."] * 3)
        two = score_pairs(model, images, ["a red circle in a drawing"] * 3)
        torch.testing.assert_close(scores[:, 0], (one + two) / 2, atol=1e-5, rtol=1e-5)
        assert (scores < 0).all()


def test_bad_input_is_refused():
    lm = models()["lm"]
    with pytest.raises(ValueError, match="class name"):
        score_classes(lm, torch.randn(2, 3, 32, 32), [], ("{}",))
    with pytest.raises(ValueError, match="one text per image"):
        score_pairs(lm, torch.randn(2, 3, 32, 32), ["a circle"])


def test_a_bag_of_words_ties_on_swapped_relations_and_scores_chance():
    """ "a coat left of a bag" and "a bag left of a coat" are one bag of words: each tie counts half."""
    bow = models()["bow"]
    task = Task("binding", torch.randn(4, 3, 32, 32), 0.5, kind="binding",
                prompts=[("a coat left of a bag", "a bag left of a coat")] * 4)
    true, swapped = (score_pairs(bow, task.images, [p[i] for p in task.prompts]) for i in (0, 1))
    assert torch.equal(true, swapped)
    assert evaluate_objective(bow, [task], ("{}",))[0]["top1"] == 0.5


def test_the_bag_of_words_clip_reads_words_in_any_order():
    torch.manual_seed(0)
    clip = CLIP(TINY)
    model = BagOfWordsCLIP.from_clip(clip).eval()
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), clip.state_dict().values()))
    tokens = model.tokenize(["a red square", "square red a", "a red circle", "a red red square"])
    with torch.no_grad():
        text = model.encode_text(tokens)  # (4, D)
        words = model.token_embedding(tokens[:1, 1:4]).mean(dim=1)  # the naive mean of "a", "red", "square"
        torch.testing.assert_close(text[0], (model.ln_final(words) @ model.text_projection)[0])
    assert torch.equal(text[0], text[1])  # the same words in another order: the same embedding, bit for bit
    swaps = model.tokenize(["a big red coat to the left of a small blue bag", "a small blue bag to the left of a "
                            "big red coat"])
    assert torch.equal(*model.encode_text(swaps))  # binding's two captions tie: a coin toss would not be fair
    assert not torch.allclose(text[0], text[2]) and not torch.allclose(text[0], text[3])  # counts matter
    data = SyntheticShapes(64, resolution=32, seed=0)
    history = train(model, data, TrainConfig(epochs=1, batch_size=16, warmup_steps=1, max_steps=2, device="cpu"),
                    None, progress=False, objective=objective_step(model))  # CLIP's ContrastiveStep
    assert history[-1]["step"] == 2 and math.isfinite(history[-1]["loss"])
    assert model.transformer.resblocks[0].attn.in_proj_weight.grad is None  # the transformer is not used


def test_objective_step_picks_the_loss():
    m = models()
    assert isinstance(objective_step(m["lm"]), CaptionLMStep) and isinstance(objective_step(m["bow"]), BagOfWordsStep)
    assert objective_step(m["clip"]) is None  # train() then uses CLIP's ContrastiveStep


class ClassPhrases(torch.utils.data.Dataset):
    """SyntheticShapes with its class phrase as the caption: "a red circle"."""

    def __init__(self, base):
        self.base = base

    def __len__(self):
        return len(self.base)

    def __getitem__(self, i):
        image, _, label = self.base[i]
        return image, "a " + self.base.classnames[label], label


def shapes_task():
    test = SyntheticShapes(120, resolution=32, seed=1)
    images = torch.stack([test[i][0] for i in range(len(test))])
    labels = torch.tensor([test[i][2] for i in range(len(test))])
    return Task("shapes", images, 1 / len(test.classnames), labels, list(test.classnames))


@pytest.mark.training
def test_the_bag_of_words_predictor_classifies_zero_shot():
    """Trained on captions alone ("a small red circle in the top left"), it names the colour and shape of images it
    never saw by the likelihood of prompts in a frame no caption used."""
    model = models()["bow"]
    history = train(model, SyntheticShapes(384, resolution=32, seed=0), TrainConfig(
        epochs=6, batch_size=32, lr=3e-3, warmup_steps=5, device="cpu"), None, progress=False,
        objective=objective_step(model))
    assert history[-1]["loss"] < history[0]["loss"]
    (row,) = evaluate_objective(model, [shapes_task()], ("a photo of a {}.",))
    assert row["n"] == 120 and row["top1"] > 3 * row["chance"], row


@pytest.mark.training
def test_the_language_model_ranks_the_right_phrase_first():
    """The language model learns slower (the paper's point): on captions that are the class phrase, its likelihood
    of "a red circle" given an unseen image already picks the right class well above chance."""
    model = models()["lm"]
    history = train(model, ClassPhrases(SyntheticShapes(384, resolution=32, seed=0)), TrainConfig(
        epochs=8, batch_size=32, lr=3e-3, warmup_steps=5, device="cpu"), None, progress=False,
        objective=objective_step(model))
    assert history[-1]["loss"] < history[0]["loss"]
    (row,) = evaluate_objective(model, [shapes_task()], ("a {}",))
    assert row["n"] == 120 and row["top1"] > 3 * row["chance"], row


def test_images_to_reach_interpolates_in_log_images():
    curve = [(100, 0.1), (400, 0.3), (1600, 0.5)]
    assert images_to_reach(curve, 0.05) == 100 and images_to_reach(curve, 0.3) == pytest.approx(400)
    assert images_to_reach(curve, 0.4) == pytest.approx(800)  # halfway between 400 and 1600 in log scale
    assert images_to_reach(curve, 0.6) == math.inf


def test_efficiency_recovers_a_known_ratio():
    def accuracy(images):  # a curve that rises with log(images)
        return min(0.9, 0.1 * math.log2(images / 50))

    slower = [(n, accuracy(n / 4)) for n in (200, 400, 800, 1600, 3200, 6400)]  # needs 4x the images
    faster = [(n, accuracy(n)) for n in (200, 400, 800, 1600, 3200, 6400)]
    assert efficiency(faster, slower) == pytest.approx(4)
    assert efficiency(slower, faster) == pytest.approx(1 / 4)  # the target is the slower's best either way
    assert efficiency(faster, faster) == 1
