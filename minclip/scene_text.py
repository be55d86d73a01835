"""The language of Fashion Scenes: the words for what a scene shows, and a grammar that writes alt-text about it.

CLIP learns from captions people wrote for images on the web (Radford et al. 2021, section 2.2): they mention
some of what is in the picture, in many ways, and rarely all of it. This module writes captions like that for
the scenes of minclip.scenes. A caption is a *frame* ("a picture of {}", "{} for sale") around a *description*
of the scene, and the description is one of several kinds: one item with some of its attributes ("a small red
sneaker on the left"), a list ("a bag, two coats and a dress"), a spatial relation between two items ("a red
sneaker to the left of a blue bag"), or a count ("three things on a white background"). Every category has
synonyms and plural forms (the data set's own label words among them: "trouser" and "trousers", "t-shirt/top"),
counts come as words and as digits, adjectives keep English order (size before colour), and each attribute is
mentioned only some of the time.

Held out for evaluation, never in a training caption: the frames in ``EVAL_FRAMES`` (all say "photo", a word no
training frame uses), so zero-shot prompts are wordings the model never read.

Descriptions read from a scene's items, each a mapping with the keys category (a Fashion-MNIST label), colour (a
COLOURS name, or None for the data set's own grey levels), size ("small" or "large") and centre ((x, y) in
[0, 1], y down); minclip.scenes builds them.
"""

from __future__ import annotations

import random
from collections import Counter

# per Fashion-MNIST label: (singular, plural) noun phrases; the data set's own words are among them
NOUNS: tuple[tuple[tuple[str, str], ...], ...] = (
    (("t-shirt", "t-shirts"), ("tee", "tees"), ("top", "tops"), ("tank top", "tank tops"),
     ("t-shirt/top", "t-shirts/tops"), ("short-sleeved top", "short-sleeved tops")),
    (("trouser", "trousers"), ("pair of trousers", "pairs of trousers"), ("trousers", "trousers"),
     ("pants", "pants"), ("jeans", "jeans"), ("slacks", "slacks")),
    (("pullover", "pullovers"), ("sweater", "sweaters"), ("jumper", "jumpers"), ("sweatshirt", "sweatshirts"),
     ("knitted sweater", "knitted sweaters"), ("hoodie", "hoodies")),
    (("dress", "dresses"), ("frock", "frocks"), ("gown", "gowns"), ("summer dress", "summer dresses"),
     ("sleeveless dress", "sleeveless dresses")),
    (("coat", "coats"), ("jacket", "jackets"), ("overcoat", "overcoats"), ("parka", "parkas"),
     ("winter coat", "winter coats"), ("raincoat", "raincoats")),
    (("sandal", "sandals"), ("flip-flop", "flip-flops"), ("strappy sandal", "strappy sandals"),
     ("open-toed shoe", "open-toed shoes"), ("summer sandal", "summer sandals")),
    (("shirt", "shirts"), ("blouse", "blouses"), ("button-up shirt", "button-up shirts"),
     ("collared shirt", "collared shirts"), ("dress shirt", "dress shirts")),
    (("sneaker", "sneakers"), ("trainer", "trainers"), ("running shoe", "running shoes"),
     ("sports shoe", "sports shoes"), ("canvas shoe", "canvas shoes")),
    (("bag", "bags"), ("handbag", "handbags"), ("purse", "purses"), ("tote bag", "tote bags"),
     ("shoulder bag", "shoulder bags"), ("backpack", "backpacks")),
    (("ankle boot", "ankle boots"), ("boot", "boots"), ("bootie", "booties"), ("chelsea boot", "chelsea boots"),
     ("short boot", "short boots")),
)
# nouns that are plural in form: no article for one ("jeans", not "a jeans")
PLURAL_FORM = frozenset({"trousers", "pants", "jeans", "slacks"})
# words for an item of any category (partial descriptions)
GENERIC = (("item", "items"), ("thing", "things"), ("object", "objects"), ("product", "products"))

# the basic colour terms (Berlin and Kay, 1969), as RGB; the words a caption may use for each
COLOURS: dict[str, tuple[int, int, int]] = {
    "black": (20, 20, 20), "white": (245, 245, 245), "grey": (128, 128, 128), "red": (220, 30, 30),
    "green": (40, 170, 50), "blue": (40, 80, 220), "yellow": (240, 220, 30), "orange": (245, 140, 20),
    "purple": (130, 50, 170), "pink": (245, 150, 200), "brown": (130, 80, 40),
}
COLOUR_WORDS = {name: (name,) for name in COLOURS} | {"grey": ("grey", "gray")}
SIZE_WORDS = {"small": ("small", "little", "tiny"), "large": ("large", "big")}
POSITIONS = ("left", "right", "top", "bottom", "middle")
POSITION_WORDS = {
    "left": ("on the left", "at the left", "on the left side", "at the left edge"),
    "right": ("on the right", "at the right", "on the right side", "at the right edge"),
    "top": ("at the top", "near the top", "in the upper half", "at the top of the picture"),
    "bottom": ("at the bottom", "near the bottom", "in the lower half", "at the bottom of the picture"),
    "middle": ("in the middle", "in the centre", "in the center", "in the middle of the picture"),
}
RELATION_WORDS = {
    "left of": ("to the left of", "left of", "on the left of"),
    "right of": ("to the right of", "right of", "on the right of"),
    "above": ("above", "over", "higher than"),
    "below": ("below", "under", "beneath"),
}
COUNT_WORDS = {1: ("one", "1"), 2: ("two", "2"), 3: ("three", "3"), 4: ("four", "4")}
BACKGROUND_PHRASES = ("on a {} background", "against a {} backdrop", "on {}", "with a {} background",
                      "on a plain {} background")

# frames around a description, as alt text and listings are written; none contains the word "photo"
TRAIN_FRAMES = (
    "{}", "{}.", "a picture of {}", "an image of {}", "an image showing {}", "a snapshot of {}", "a shot of {}",
    "picture: {}", "image of {}", "{} in a picture", "here is {}", "there is {}", "there are {}", "we see {}",
    "showing {}", "this shows {}", "this image contains {}", "{} for sale", "{} in stock", "listing: {}",
    "catalogue image: {}", "a catalogue picture of {}", "thumbnail of {}", "a close-up of {}", "look at {}!",
    "just bought {}", "new in: {}", "a product shot of {}", "a render of {}", "an illustration of {}",
    "a scan of {}", "a screenshot of {}", "a cropped image of {}", "a low resolution picture of {}",
    "a small image of {}", "a simple picture with {}", "{} (image)", "{}, nothing else", "a listing showing {}",
    "today's outfit: {}", "a shop window with {}", "clearance sale: {}", "a lookbook image of {}",
    "an online shop picture of {}", "i found {}",
)
# frames for the data set's own look: one grey item, centred, on black
ORIGINAL_FRAMES = ("a greyscale picture of {}", "a black and white image of {}", "a grayscale image of {}",
                   "a monochrome picture of {}", "{} in greyscale", "a dark picture of {}")
# held out of training: the frames zero-shot prompts use (minclip.tasks)
EVAL_FRAMES = ("a photo of {}.", "a cropped photo of {}.", "a photo showing {}.", "{}, in a photo.",
               "a shop photo of {}.", "a good photo of {}.")


# ----------------------------------------------------------------------------------------------------------
# noun phrases


def article(phrase: str) -> str:
    """The phrase with its indefinite article: "boot" -> "a boot", "overcoat" -> "an overcoat", "jeans" ->
    "jeans" (a plural form takes none, but "a pair of jeans" is one). By spelling: every word in this module is
    read as it is spelt."""
    head = phrase.split()[-1] if phrase.split() else phrase
    if (phrase in PLURAL_FORM or head in PLURAL_FORM) and "pair of " not in phrase:
        return phrase
    return ("an " if phrase[:1] in "aeiou" else "a ") + phrase


def noun(category: int, rng: random.Random, plural: bool = False) -> str:
    """A noun for the category; the first word (the data set's) twice as often as each synonym."""
    forms = NOUNS[category]
    singular, plural_form = forms[0] if rng.random() < 0.3 else rng.choice(forms)
    return plural_form if plural else singular


def noun_phrase(item: dict, rng: random.Random, colour_p: float = 0.7, size_p: float = 0.3,
                count: int = 1, generic: bool = False) -> str:
    """"a small red sneaker", "two red sneakers", "2 blue items": adjectives in English order (size, colour),
    each mentioned with its probability; count > 1 gives a plural with the count in words or digits, or now and
    then a bare plural ("red sneakers"), which listings also use for a single item ("sneakers for sale")."""
    words = []
    if item.get("size") in SIZE_WORDS and rng.random() < size_p:
        words.append(rng.choice(SIZE_WORDS[item["size"]]))
    if item.get("colour") is not None and rng.random() < colour_p:
        words.append(rng.choice(COLOUR_WORDS[item["colour"]]))
    bare = rng.random() < (0.25 if count > 1 else 0.0 if generic else 0.08)
    head = rng.choice(GENERIC)[count > 1] if generic else noun(item["category"], rng, plural=count > 1 or bare)
    phrase = " ".join([*words, head])
    if bare:
        return phrase
    if count > 1:
        return f"{rng.choice(COUNT_WORDS[count])} {phrase}"
    if rng.random() < 0.1:
        return f"{rng.choice(COUNT_WORDS[1])} {phrase}"
    return article(phrase)


def position(item: dict) -> str | None:
    """Where an item's centre lies: "left", "right", "top", "bottom", "middle", or None between regions."""
    x, y = item["centre"]
    horizontal = "left" if x < 0.4 else "right" if x > 0.6 else None
    vertical = "top" if y < 0.4 else "bottom" if y > 0.6 else None
    if horizontal and not vertical:
        return horizontal
    if vertical and not horizontal:
        return vertical
    if not horizontal and not vertical and 0.42 <= x <= 0.58 and 0.42 <= y <= 0.58:
        return "middle"
    return None


def relation(a: dict, b: dict, margin: float = 0.25) -> str | None:
    """How item a stands to item b along the axis where they are further apart: "left of", "right of", "above",
    "below", or None when neither axis separates them by `margin` (of the canvas side)."""
    dx, dy = b["centre"][0] - a["centre"][0], b["centre"][1] - a["centre"][1]
    if abs(dx) >= abs(dy) and abs(dx) >= margin:
        return "left of" if dx > 0 else "right of"
    if abs(dy) > abs(dx) and abs(dy) >= margin:
        return "above" if dy > 0 else "below"
    return None


def join(phrases: list[str]) -> str:
    """["a", "b", "c"] -> "a, b and c"."""
    return phrases[0] if len(phrases) == 1 else ", ".join(phrases[:-1]) + " and " + phrases[-1]


# ----------------------------------------------------------------------------------------------------------
# descriptions of a whole scene


def _with_position(item: dict, rng: random.Random, p: float) -> str:
    phrase = noun_phrase(item, rng)
    where = position(item)
    if where is not None and rng.random() < p:
        phrase += " " + rng.choice(POSITION_WORDS[where])
    return phrase


def describe_relation(a: dict, b: dict, rng: random.Random, phrases: tuple[str, str] | None = None
                      ) -> tuple[str, str] | None:
    """"a red sneaker to the left of a blue bag", or one of its other wordings, and the same words with the two
    items swapped ("a blue bag to the left of a red sneaker"): only the order tells them apart, so the swap is
    the caption's hardest negative (relation twins, and NegCLIP's swapped captions). None if no relation holds.
    `phrases`: the two items' noun phrases, where the caller has drawn them already (default: drawn here)."""
    rel = relation(a, b)
    if rel is None:
        return None
    first, second = phrases if phrases is not None else (noun_phrase(a, rng), noun_phrase(b, rng))
    if rng.random() < 0.3:  # "a sneaker on the left and a bag on the right"
        ends = ("on the left", "on the right") if rel in ("left of", "right of") else ("at the top", "at the bottom")
        pattern = "{} " + ends[0] + " and {} " + ends[1]
        if rel in ("right of", "below"):
            first, second = second, first
    else:
        pattern = "{} " + rng.choice(RELATION_WORDS[rel]) + " {}"
    return pattern.format(first, second), pattern.format(second, first)


OPPOSITE = {"left": "right", "right": "left", "top": "bottom", "bottom": "top"}


def describe_position_twins(item: dict, rng: random.Random) -> tuple[str, str] | None:
    """Captions for one item and its mirror image (position twins): the same words but the side, "a red sneaker
    on the left" and "a red sneaker on the right". None if the item is not at a side."""
    where = position(item)
    if where not in OPPOSITE:
        return None
    phrase = noun_phrase(item, rng, colour_p=0.6)
    j = rng.randrange(len(POSITION_WORDS[where]))  # the wordings of opposite sides are listed in parallel
    return f"{phrase} {POSITION_WORDS[where][j]}", f"{phrase} {POSITION_WORDS[OPPOSITE[where]][j]}"


def describe_colour_twins(item: dict, colour: str, rng: random.Random) -> tuple[str, str]:
    """Captions for one item and the same item in another colour on the same background (colour twins): the
    same words but the colour, "a white coat on the left" and "a grey coat on the left"."""
    size = rng.choice(SIZE_WORDS[item["size"]]) if item.get("size") in SIZE_WORDS and rng.random() < 0.3 else None
    head = noun(item["category"], rng)
    where = position(item)
    place = " " + rng.choice(POSITION_WORDS[where]) if where is not None and rng.random() < 0.3 else ""
    return tuple(article(" ".join(w for w in (size, c, head) if w)) + place for c in (item["colour"], colour))


def describe_counts(items: list[dict], rng: random.Random) -> str:
    """Items grouped by category (and colour where all share one): "two red sneakers and a bag"."""
    groups = Counter(item["category"] for item in items)
    phrases = []
    for category, n in groups.items():
        members = [item for item in items if item["category"] == category]
        colours = {m["colour"] for m in members}
        shared = {"category": category, "colour": colours.pop() if len(colours) == 1 else None}
        phrases.append(noun_phrase(shared, rng, colour_p=0.6, size_p=0.0, count=n))
    rng.shuffle(phrases)
    return join(phrases)


def describe(items: list[dict], rng: random.Random) -> tuple[str, str | None]:
    """One description of the items, of a randomly chosen kind (partial descriptions leave items out), and for a
    relation the same words with the items swapped, its hard negative (None for the other kinds)."""
    n = len(items)
    if n >= 2 and rng.random() < 0.4:
        a, b = rng.sample(items, 2)
        pair = describe_relation(a, b, rng)
        if pair is not None:
            return pair
    kind = rng.random()
    if n == 1 or kind < 0.2:  # one item (in a scene of several: the others go unmentioned)
        return _with_position(rng.choice(items), rng, p=0.7 if n == 1 else 0.4), None
    if kind < 0.55:  # a list of some or all of the items
        chosen = items if rng.random() < 0.6 else rng.sample(items, rng.randint(1, n - 1))
        return join([_with_position(item, rng, p=0.3) for item in chosen]), None
    if kind < 0.85:
        return describe_counts(items, rng), None
    generic = {"category": 0, "colour": items[0]["colour"] if len({i["colour"] for i in items}) == 1 else None}
    return noun_phrase(generic, rng, colour_p=0.5, size_p=0.0, count=n, generic=True), None


def frame_caption(desc: str, background: str, rng: random.Random, original: bool) -> str:
    """desc in a frame from TRAIN_FRAMES (ORIGINAL_FRAMES, sometimes, for the data set's look), sometimes with
    the background colour; "there is" and "there are" agree with the description's number."""
    if rng.random() < (0.15 if original else 0.25):
        desc += " " + rng.choice(BACKGROUND_PHRASES).format(rng.choice(COLOUR_WORDS[background]))
    frame = rng.choice(ORIGINAL_FRAMES if original and rng.random() < 0.4 else TRAIN_FRAMES)
    plural = desc.split()[0] not in {"a", "an", "one", "1"}  # "two coats", "red sneakers", "jeans"
    if frame in ("there is {}", "there are {}"):
        frame = "there are {}" if plural else "there is {}"
    return frame.format(desc)


def caption(items: list[dict], background: str, rng: random.Random, original: bool = False
            ) -> tuple[str, str | None]:
    """A training caption for a scene, a frame around describe(items), and its hard negative: for a relation, the
    same caption with the two items swapped (None otherwise)."""
    desc, swapped = describe(items, rng)
    return _framed_pair((desc, swapped), background, rng, original)


def _framed_pair(pair: tuple[str, str | None], background: str, rng: random.Random, original: bool
                 ) -> tuple[str, str | None]:
    """Both descriptions in one frame, with the same background words (the second may be None)."""
    state = rng.getstate()
    first = frame_caption(pair[0], background, rng, original)
    if pair[1] is None:
        return first, None
    rng.setstate(state)  # the same draws again: the same frame and background words
    return first, frame_caption(pair[1], background, rng, original)


def twin_captions(first: list[dict], second: list[dict], background: str, rng: random.Random,
                  kind: str = "relation") -> tuple[str, str] | None:
    """Training captions for a scene and its twin (minclip.scenes.twin), given both scenes' items and the
    background, in one frame: relation (two items, mirrored), position (one item, mirrored) or colour (one item
    in two colours)."""
    if kind == "relation":
        pair = describe_relation(*rng.sample(first, 2), rng)
    elif kind == "position":
        pair = describe_position_twins(first[0], rng)
    elif kind == "colour":
        pair = describe_colour_twins(first[0], second[0]["colour"], rng)
    else:
        raise ValueError(f"kind: 'relation', 'position' or 'colour', got {kind!r}")
    return None if pair is None else _framed_pair(pair, background, rng, False)
