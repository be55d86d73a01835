"""minclip.shifts: the distribution shifts of chapter 9's robustness experiment."""

import random

import pytest
import torch

from minclip.datasets import grey_to_rgb, load_sample
from minclip.shifts import SHIFTS, shifted


@pytest.fixture(scope="module")
def pool():
    return tuple(torch.as_tensor(a) for a in load_sample())


@pytest.mark.parametrize("shift", SHIFTS)
def test_every_shift_is_an_rgb_image_and_a_pure_function_of_its_seed(pool, shift):
    a = shifted(shift, *pool, 3, 64, random.Random(7))
    assert a.shape == (3, 64, 64) and a.dtype == torch.float32 and 0 <= a.min() and a.max() <= 1
    torch.testing.assert_close(a, shifted(shift, *pool, 3, 64, random.Random(7)))
    if shift != "original":
        assert not torch.equal(a, grey_to_rgb(pool[0][3], 64))  # it changes the picture


def test_the_shifts_do_what_they_say(pool):
    images, labels = pool
    i, rng = 5, random.Random(0)
    original = shifted("original", images, labels, i, 64, rng)
    torch.testing.assert_close(original, grey_to_rgb(images[i], 64))
    inverted = shifted("inverted", images, labels, i, 64, rng)
    torch.testing.assert_close(inverted, grey_to_rgb(255 - images[i], 64))
    coloured = shifted("coloured", images, labels, i, 64, random.Random(1))
    assert (coloured.amax(dim=(1, 2)) - coloured.amin(dim=(1, 2))).max() > 0.3  # has colour or contrast
    small = shifted("small", images, labels, i, 64, rng)
    assert (small.mean(0) > 0.3).float().mean() < 0.5 * (original.mean(0) > 0.3).float().mean()  # smaller
    noisy = shifted("noise", images, labels, i, 64, rng)
    assert 0.05 < (noisy - original).abs().mean() < 0.3
    blurred = shifted("blur", images, labels, i, 64, rng)
    sharp = (original[0, :, 1:] - original[0, :, :-1]).abs().mean()
    assert (blurred[0, :, 1:] - blurred[0, :, :-1]).abs().mean() < 0.7 * sharp
    two = shifted("second item", images, labels, i, 64, rng).mean(0) > 0.3  # (R, R)
    columns = two.any(dim=0).int()
    assert int((columns[1:] - columns[:-1]).clamp(min=0).sum()) + int(columns[0]) >= 2  # two separate items
    with pytest.raises(ValueError, match="unknown shift 'rain'; choose one of original"):
        shifted("rain", images, labels, i, 64, rng)
