"""What the demo's zero-shot classifier offers beside the editable class list: class-list presets and prompt sets.

The presets are the class lists of the zero-shot task suite (minclip.tasks): the ten items in the data set's own
words, the 11 colours, the counts, the positions and the sizes, each class a phrase with its article ("a red
item", "two items"), plus Fashion-MNIST's labels as the label-caption model read them ("t-shirt", "trousers").
Choosing one fills the list, which stays editable.

The prompt sets put a class name into sentences (Radford et al. 2021, section 3.1.4). Every template marks the
article's place with "a {}", and minclip.captions.fill writes the article the name needs, or none where the name
has one already: "a photo of a {}." reads "a photo of a sneaker.", "a photo of an ankle boot.", "a photo of
trousers." and "a photo of a red item.", so bare labels and the task suite's phrases both read right.
``scenes`` is minclip.scene_text.EVAL_FRAMES, the frames the scenes model was evaluated with and never trained on,
written this way: filled with a task's phrases, its prompts are exactly the task suite's.

minclip.demo re-exports these names; minclip.demo_app wires them to a dropdown.
"""

from __future__ import annotations

from collections.abc import Sequence

from minclip.captions import CLASSNAMES, EVAL_TEMPLATES, fill
from minclip.scene_text import EVAL_FRAMES
from minclip.tasks import COLOUR_CLASSES, COUNT_CLASSES, ITEM_CLASSES, POSITION_CLASSES, SIZE_CLASSES

# preset -> class names; "items" first: the scenes dataset's own list
CLASS_PRESETS: dict[str, tuple[str, ...]] = {
    "items": ITEM_CLASSES,
    "colour": COLOUR_CLASSES,
    "count": COUNT_CLASSES,
    "position": POSITION_CLASSES,
    "size": SIZE_CLASSES,
    "fashion-mnist labels": CLASSNAMES,
}
# the scene frames with the article's place marked: "a photo of {}." -> "a photo of a {}."
SCENE_TEMPLATES = tuple(t.replace("{}", "a {}", 1) for t in EVAL_FRAMES)
# name -> templates; the first two are minclip.demo.TEMPLATE_SETS (chapter 8), the scenes set is the app's too
PROMPT_SETS: dict[str, tuple[str, ...]] = {
    "paper": ("a photo of a {}.",),  # section 3.1.4
    "ensemble": EVAL_TEMPLATES,  # written for Fashion-MNIST's product photos (minclip.captions)
    "scenes": SCENE_TEMPLATES,  # the task suite's frames (minclip.scene_text.EVAL_FRAMES)
}


def preset_classes(name: str) -> tuple[str, ...]:
    """The class names of preset `name`, e.g. preset_classes("count") -> ("one item", ..., "four items")."""
    if name not in CLASS_PRESETS:
        raise ValueError(f"no class-list preset {name!r}; presets: {', '.join(CLASS_PRESETS)}")
    return CLASS_PRESETS[name]


def preset_of(text: str) -> str | None:
    """The preset whose class list `text` holds (one name a line; blank lines and spaces ignored), else None."""
    names = tuple(line.strip() for line in text.splitlines() if line.strip())
    return next((name for name, classes in CLASS_PRESETS.items() if classes == names), None)


def prompts(classname: str, templates: Sequence[str]) -> list[str]:
    """The sentences the text encoder reads for one class, as minclip.zero_shot_classifier fills them:
    prompts("a red item", PROMPT_SETS["paper"]) -> ["a photo of a red item."]."""
    return [fill(t, classname.strip()) for t in templates]
