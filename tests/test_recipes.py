"""minclip.recipes: the named Fashion Scenes recipes, their checks, and the flags that remake each one."""

import argparse

import pytest

from minclip.recipes import DEFAULT_RECIPE, RECIPES, SCENE_STREAMS, Recipe
from minclip.scenes import SceneConfig
from minclip.train_cli import add_recipe_flags, recipe_from, recipe_max_steps


def parse(*flags: str) -> Recipe:
    parser = argparse.ArgumentParser()
    add_recipe_flags(parser)
    parser.add_argument("--max-steps", type=int, default=None)
    return recipe_from(parser.parse_args(list(flags)))


def test_the_default_is_the_shipped_language_first_recipe_and_plain_is_clips_loss_alone():
    assert DEFAULT_RECIPE == "language-first" and parse() == RECIPES["language-first"]
    shipped = RECIPES["language-first"]
    assert (shipped.text_steps, shipped.word_order, shipped.word_order_weight, shipped.word_order_every,
            shipped.max_steps) == (300, 32, 1.0, 2, 1900)
    assert SCENE_STREAMS[shipped.scenes](resolution=64) == SceneConfig.binding(resolution=64, shading=(0.15, 0.55),
                                                                               edge=(3, 10))
    plain = parse("--recipe", "plain")
    assert plain == Recipe() and (plain.text_steps, plain.word_order, plain.max_steps) == (0, 0, None)
    assert SCENE_STREAMS[plain.scenes](resolution=64) == SceneConfig(resolution=64)


def test_a_flag_overrides_the_named_recipe_and_flags_remake_it():
    recipe = parse("--recipe", "plain", "--text-steps", "300", "--scenes", "binding", "--max-steps", "1800")
    assert recipe == Recipe(scenes="binding", text_steps=300, max_steps=1800)
    assert recipe.flags("plain") == ["--recipe plain", "--scenes binding", "--text-steps 300", "--max-steps 1800"]
    assert parse(*" ".join(recipe.flags("plain")).split()) == recipe
    assert RECIPES["language-first"].flags() == [] and RECIPES["plain"].flags("plain") == ["--recipe plain"]
    shorter = parse("--max-steps", "1500", "--word-order-every", "3")
    assert shorter.flags() == ["--word-order-every 3", "--max-steps 1500"]
    assert parse(*" ".join(shorter.flags()).split()) == shorter


@pytest.mark.parametrize("fields, message", [
    ({"scenes": "web"}, "scenes: one of plain, binding, language-first, not 'web'"),
    ({"word_order": -1}, "text_steps and word_order: 0 or more"),
    ({"word_order_every": 0}, "word_order_every: 1 or more"),
    ({"word_order_weight": 0.0}, "word_order_weight: above 0"),
    ({"triple_colours": 1.5}, "triple_colours: a fraction from 0 to 1, got 1.5"),
    ({"max_steps": 0}, "max_steps: 1 or more"),
])
def test_an_impossible_recipe_names_its_field(fields, message):
    with pytest.raises(ValueError, match=message):
        Recipe(**fields)


def test_the_recipe_stops_the_cpu_schedule_only():
    """1,900 steps is the cpu schedule's count (128 scenes a step); `--schedule gpu` runs its own ten epochs."""
    shipped = RECIPES["language-first"]
    assert recipe_max_steps(shipped, "cpu") == 1900 and recipe_max_steps(shipped, "gpu") is None
    assert recipe_max_steps(RECIPES["plain"], "cpu") is None
