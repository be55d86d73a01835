"""Captions for Fashion-MNIST, written from its labels, and the zero-shot prompts kept apart from them.

CLIP learns from (image, caption) pairs scraped from the web (Radford et al. 2021, section 2.2). Fashion-MNIST
(Xiao, Rasul and Vollgraf, 2017) has no captions, only 10 labels, so minclip writes them: each training caption
is a template ("a product photo of a {}") filled with one of a few phrases for the label ("sneaker", "running
shoe", "trainer"). Be honest about what that buys. The text encoder sees about 20 templates and 60 phrases, so it
can learn that "slacks" and "jeans" go with the same images, and to ignore the wrapping words; it cannot learn
colours, materials, counts or anything else the labels do not say. A caption here carries at most log2(10)
bits about its image, where a web caption carries many more.

Zero-shot classification (section 3.1) builds one prompt per class from ``CLASSNAMES`` and a template, and picks
the class whose prompt embedding is closest to the image's. The paper's default template is "a photo of a {}."
(section 3.1.4); ``EVAL_TEMPLATES`` quotes it and adds five of our own, written for small greyscale product
photos (OpenAI's 80 ImageNet templates are not used; a test checks that none of ours is one of them). None of them
is used in training, so zero-shot accuracy measures whether the model generalises to unseen wording, not whether
it memorised a caption.

Templates mark the place of an indefinite article with "a {}"; :func:`fill` puts in the right one: "an ankle
boot", "a t-shirt", and nothing before a plural ("trousers", "jeans"), as a person would write it.
"""

from __future__ import annotations

import random
import re

# Fashion-MNIST's label order (minclip.data.FASHION_MNIST_CLASSES), in the words a caption would use
CLASSNAMES = ("t-shirt", "trousers", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle boot")

# label -> noun phrases for it, the class name first. Only what 28x28 greyscale images can show: a shape, never
# a colour, a fabric or a brand.
SYNONYMS: tuple[tuple[str, ...], ...] = (
    ("t-shirt", "tee", "top", "short-sleeved top", "crew-neck t-shirt", "tank top"),
    ("trousers", "pants", "pair of trousers", "slacks", "jeans", "pair of jeans"),
    ("pullover", "sweater", "jumper", "knitted sweater", "long-sleeved pullover", "sweatshirt"),
    ("dress", "frock", "summer dress", "sleeveless dress", "short dress", "shift dress"),
    ("coat", "jacket", "overcoat", "winter coat", "long-sleeved jacket", "parka"),
    ("sandal", "strappy sandal", "summer sandal", "open-toed shoe", "heeled sandal", "flip-flop"),
    ("shirt", "button-up shirt", "collared shirt", "blouse", "long-sleeved shirt", "button-down shirt"),
    ("sneaker", "trainer", "running shoe", "sports shoe", "canvas shoe", "low-top sneaker"),
    ("bag", "handbag", "purse", "tote bag", "shoulder bag", "clutch bag"),
    ("ankle boot", "boot", "short boot", "bootie", "chelsea boot", "heeled boot"),
)

# phrases that are plural nouns: they take no article ("a photo of jeans", not "a photo of a jeans")
PLURALS = frozenset({"trousers", "pants", "slacks", "jeans"})
# first words of a phrase that already has its article or count ("a red item", "two items"): none is added
DETERMINERS = frozenset({"a", "an", "the", "one", "two", "three", "four", "some"})

# "a {}" marks where an article goes; fill() decides which ("a", "an" or none)
TRAIN_TEMPLATES = (
    "{}",
    "a {}",
    "a product photo of a {}",
    "a {} on a plain background",
    "a {} on a black background",
    "a grayscale picture of a {}",
    "a black and white photo of a {}",
    "a low resolution image of a {}",
    "a small picture of a {}",
    "a blurry image of a {}",
    "a catalogue photo of a {}",
    "a picture of a {}",
    "a close-up of a {}",
    "a thumbnail of a {}",
    "an online shop listing for a {}",
    "a {} for sale",
    "someone's {}",
    "my new {}",
    "an image showing a {}",
    "a studio shot of a {}",
    "a {} from a clothing store",
    "a centred photo of a {}",
)

# zero-shot prompts: the paper's default, quoted (Radford et al. 2021, section 3.1.4), then five written for this
# dataset, none of them a training template. Filled with CLASSNAMES, never with SYNONYMS.
EVAL_TEMPLATES = (
    "a photo of a {}.",
    "a small photo showing a {}.",
    "a greyscale snapshot of a {}.",
    "a shop photograph of a {}, seen from the front.",
    "a {} shown alone against a dark backdrop.",
    "a fashion catalogue item: a {}.",
)

_A_SLOT = re.compile(r"\ba \{\}")


def with_article(phrase: str) -> str:
    """The phrase with the indefinite article it takes: "boot" -> "a boot", "overcoat" -> "an overcoat",
    "jeans" -> "jeans" (plurals take none). By spelling: a leading vowel letter takes "an", which holds for
    every phrase in SYNONYMS (it would be wrong for "unicorn" or "hour", which minclip does not use). A phrase
    that has its article or count already is kept: "a red item", "two items" (the task suite's class names)."""
    first = phrase.split(" ", 1)[0].lower()
    if phrase in PLURALS or first in DETERMINERS or first.isdigit():
        return phrase
    return ("an " if phrase[:1].lower() in "aeiou" else "a ") + phrase


def fill(template: str, phrase: str) -> str:
    """Put a phrase into a template, fixing the article: fill("a photo of a {}.", "ankle boot") ->
    "a photo of an ankle boot."; fill("someone's {}", "jeans") -> "someone's jeans"; fill("a photo of a {}.",
    "a red item") -> "a photo of a red item."."""
    if _A_SLOT.search(template):
        return _A_SLOT.sub(lambda _: with_article(phrase), template, count=1)
    return template.format(phrase)


def caption(label: int, rng: random.Random) -> str:
    """A random training caption for a Fashion-MNIST label: one template and one phrase, each drawn uniformly.
    caption(9, random.Random(0)) gives one of 22 x 6 strings, such as "a catalogue photo of a bootie"."""
    if not 0 <= label < len(SYNONYMS):
        raise ValueError(f"label must be in 0..{len(SYNONYMS) - 1}, got {label}")
    template = rng.choice(TRAIN_TEMPLATES)
    return fill(template, rng.choice(SYNONYMS[label]))


def all_captions(label: int) -> list[str]:
    """Every training caption a label can get (templates x phrases), e.g. to check none is a zero-shot prompt."""
    return [fill(t, p) for t in TRAIN_TEMPLATES for p in SYNONYMS[label]]


def zero_shot_prompts(
    classnames: tuple[str, ...] | list[str] = CLASSNAMES, templates: tuple[str, ...] | list[str] = EVAL_TEMPLATES
) -> list[list[str]]:
    """Prompts for zero-shot classification, [class][template]: zero_shot_prompts()[9][0] ->
    "a photo of an ankle boot." (openai/CLIP's notebooks use template.format(c), "a photo of a ankle boot.";
    fill() fixes the article so prompts read like the training captions)."""
    return [[fill(t, c) for t in templates] for c in classnames]
