"""Pictures are read as a person sees them: transparency on white, 16-bit greyscale at its range, EXIF orientation,
and a bounded resize for extreme aspect ratios; in preprocess, the image folders, the demo's datasets and uploads."""

import io

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision import transforms

from minclip import demo
from minclip.image_folder import ImageCaptionFolder, open_image
from minclip.transform import MAX_ASPECT, OPENAI_MEAN, OPENAI_STD, crop_long_side, preprocess_for, to_rgb

WHITE = ((1 - torch.tensor(OPENAI_MEAN)) / torch.tensor(OPENAI_STD)).view(3, 1, 1)  # white after normalisation
BLACK = ((0 - torch.tensor(OPENAI_MEAN)) / torch.tensor(OPENAI_STD)).view(3, 1, 1)


def shape_on_transparency(size=64) -> Image.Image:
    """A black disc on a transparent background; the transparent pixels hold black, as many editors save them."""
    yy, xx = np.mgrid[:size, :size]
    alpha = (((yy - size / 2) ** 2 + (xx - size / 2) ** 2) < (size / 4) ** 2).astype(np.uint8) * 255
    rgba = np.zeros((size, size, 4), np.uint8)
    rgba[..., 3] = alpha
    return Image.fromarray(rgba, mode="RGBA")


def sixteen_bit_gradient(path) -> Image.Image:
    """A 16-bit greyscale PNG (Pillow's mode I;16) from 0 to 65535, left to right."""
    Image.fromarray(np.tile(np.linspace(0, 65535, 64).round().astype(np.uint16), (16, 1))).save(path)
    image = Image.open(path)
    assert image.mode == "I;16"
    return image


def png_bytes(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def test_transparency_is_composited_on_white():
    rgb = np.asarray(to_rgb(shape_on_transparency()))
    assert rgb[0, 0].tolist() == [255, 255, 255] and rgb[32, 32].tolist() == [0, 0, 0]
    assert 0.7 < (rgb == 255).all(-1).mean() < 0.85  # the background, around a disc of pi/16 of the area
    la = to_rgb(shape_on_transparency().convert("LA"))
    assert np.array_equal(np.asarray(la), rgb)
    palette = Image.new("P", (4, 4), 0)
    palette.putpalette([0, 0, 0, 9, 9, 9])
    palette.info["transparency"] = 0  # palette entry 0 is transparent
    assert np.asarray(to_rgb(palette)).min() == 255
    x = preprocess_for(32)(shape_on_transparency())
    torch.testing.assert_close(x[:, :2, :2], WHITE.expand(3, 2, 2))  # a corner: background
    torch.testing.assert_close(x[:, 15:17, 15:17], BLACK.expand(3, 2, 2), atol=1e-5, rtol=0)  # the disc


def test_sixteen_bit_greyscale_keeps_its_range(tmp_path):
    image = sixteen_bit_gradient(tmp_path / "grey16.png")
    grey = np.asarray(to_rgb(image))[0, :, 0].astype(int)  # (64,)
    assert grey[0] == 0 and grey[-1] == 255 and np.all(np.diff(grey) >= 0)
    assert abs(grey[32] - 130) <= 1  # 33,290 / 257
    assert (grey == 255).mean() < 0.05  # convert("RGB") made 98% of it white
    eight_bit = Image.fromarray(np.arange(256, dtype=np.int32).reshape(16, 16), mode="I")  # mode I, 8-bit values
    assert np.asarray(to_rgb(eight_bit))[..., 0].ravel().tolist() == list(range(256))


def test_exif_orientation_is_applied():
    image = Image.new("RGB", (40, 20), (255, 0, 0))
    image.paste((0, 0, 255), (0, 0, 10, 20))  # blue on the left
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    buf = io.BytesIO()
    image.save(buf, format="JPEG", exif=exif, quality=95)
    upright = to_rgb(Image.open(io.BytesIO(buf.getvalue())))
    assert upright.size == (20, 40) and np.asarray(upright)[2, 10, 2] > 200  # blue is now on top


def test_extreme_aspect_ratio_is_cropped_before_resizing():
    """A 1 x 50,000 strip must not be resized to 224 x 11,200,000 pixels (3.5 GB) to keep 224 x 224 of it."""
    transform = preprocess_for(224)
    steps = transform.transforms
    resize = next(i for i, t in enumerate(steps) if isinstance(t, transforms.Resize))
    strip = Image.new("L", (1, 50_000), 128)
    for step in steps[:resize]:
        strip = step(strip)
    assert max(strip.size) <= MAX_ASPECT * min(strip.size)  # what Resize receives
    assert transform(Image.new("L", (50_000, 1), 128)).shape == (3, 224, 224)
    assert crop_long_side(Image.new("L", (300, 200))).size == (300, 200)


def test_cropping_the_long_side_leaves_the_model_input_alone():
    """The centre crop keeps the middle square, so cutting a long side to MAX_ASPECT first changes nothing there."""
    rng = np.random.default_rng(0)
    for size in [(40, 400), (600, 30), (1000, 100)]:
        image = Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))
        plain = transforms.Compose([transforms.Resize(32, interpolation=transforms.InterpolationMode.BICUBIC),
                                    transforms.CenterCrop(32), transforms.ToTensor(),
                                    transforms.Normalize(OPENAI_MEAN, OPENAI_STD)])
        torch.testing.assert_close(preprocess_for(32)(image), plain(image), atol=0.03, rtol=0)


def test_image_folder_and_demo_read_pictures_as_seen(tmp_path):
    shape_on_transparency().save(tmp_path / "disc.png")
    sixteen_bit_gradient(tmp_path / "grey16.png")
    assert np.asarray(open_image(tmp_path / "disc.png"))[0, 0].tolist() == [255, 255, 255]
    assert (np.asarray(open_image(tmp_path / "grey16.png")) == 255).mean() < 0.05
    folder = ImageCaptionFolder(tmp_path, resolution=32)
    disc = folder[folder.captions.index("disc")][0]
    torch.testing.assert_close(disc[:, :2, :2], WHITE.expand(3, 2, 2))
    dataset = demo.load_dataset(tmp_path)
    assert np.asarray(dataset.image(dataset.captions.index("disc")))[0, 0].tolist() == [255, 255, 255]
    upload = demo.read_upload(png_bytes(shape_on_transparency()))
    assert np.asarray(upload)[0, 0].tolist() == [255, 255, 255]
    upload16 = demo.read_upload((tmp_path / "grey16.png").read_bytes())
    assert (np.asarray(upload16) == 255).mean() < 0.05


@pytest.mark.parametrize("size", [(1, 200_000), (200_000, 1)])
def test_extreme_aspect_ratio_in_the_demo(tmp_path, size):
    """A 279-byte PNG of 1 x 200,000 pixels passes the megapixel guard; classifying it must not exhaust memory."""
    data = png_bytes(Image.new("L", size, 255))
    assert len(data) < 2000
    image = demo.read_upload(data)
    assert preprocess_for(224)(image).shape == (3, 224, 224)
