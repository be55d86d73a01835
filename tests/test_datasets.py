"""Tests for minclip.captions and minclip.datasets: captions, Fashion-MNIST pairs from the committed sample,
synthetic shapes, image folders with their errors, and collate. Offline, CPU, seconds; the full Fashion-MNIST is
used by one test only, skipped where it is absent."""

import random
import re

import numpy as np
import pytest
import torch
from PIL import Image

from minclip.captions import (
    CLASSNAMES,
    EVAL_TEMPLATES,
    SYNONYMS,
    TRAIN_TEMPLATES,
    all_captions,
    caption,
    fill,
    with_article,
    zero_shot_prompts,
)
from minclip.data import FASHION_MNIST_CLASSES, find_fashion_mnist
from minclip.datasets import (
    HOLDOUT,
    SHAPE_CLASSES,
    FashionMNISTPairs,
    ImageCaptionFolder,
    SyntheticShapes,
    collate,
    load_sample,
    to_model_input,
)
from minclip.load import OPENAI_MEAN, OPENAI_STD

MEAN, STD = torch.tensor(OPENAI_MEAN).view(3, 1, 1), torch.tensor(OPENAI_STD).view(3, 1, 1)

# ----------------------------------------------------------------------------------------------------------
# captions


def test_classnames_follow_fashion_mnist_label_order():
    assert len(CLASSNAMES) == len(SYNONYMS) == len(FASHION_MNIST_CLASSES) == 10
    assert CLASSNAMES[1] == "trousers" and CLASSNAMES[9] == "ankle boot"


@pytest.mark.parametrize("label", range(10))
def test_every_class_has_synonyms_led_by_its_name(label):
    phrases = SYNONYMS[label]
    assert 4 <= len(phrases) <= 8 and phrases[0] == CLASSNAMES[label]
    assert len(set(phrases)) == len(phrases)


def test_no_phrase_belongs_to_two_classes():
    owners = [p for phrases in SYNONYMS for p in phrases]
    assert len(owners) == len(set(owners))


def test_templates_have_exactly_one_slot():
    for template in TRAIN_TEMPLATES + EVAL_TEMPLATES:
        assert template.count("{}") == 1 and template.count("{") == 1, template
    assert 15 <= len(TRAIN_TEMPLATES) <= 25 and 4 <= len(EVAL_TEMPLATES) <= 8


def test_eval_templates_are_never_used_in_training():
    assert EVAL_TEMPLATES[0] == "a photo of a {}."  # the paper's default prompt (Radford et al. 2021, 3.1.4)
    assert not set(EVAL_TEMPLATES) & set(TRAIN_TEMPLATES)
    # written by us: apart from the quoted default, none is one of OpenAI's 80 ImageNet templates
    from open_clip.zero_shot_metadata import OPENAI_IMAGENET_TEMPLATES

    openai = {template("{}") for template in OPENAI_IMAGENET_TEMPLATES}
    assert EVAL_TEMPLATES[0] in openai and not set(EVAL_TEMPLATES[1:]) & openai
    prompts = {p for per_class in zero_shot_prompts() for p in per_class}
    captions = {c for label in range(10) for c in all_captions(label)}
    assert not prompts & captions


def test_articles():
    assert with_article("ankle boot") == "an ankle boot" and with_article("bag") == "a bag"
    assert with_article("jeans") == "jeans" and with_article("pair of jeans") == "a pair of jeans"
    assert with_article("a red item") == "a red item" and with_article("two items") == "two items"  # has one
    assert with_article("2 items") == "2 items"
    assert fill("a photo of a {}.", "an item on the left") == "a photo of an item on the left."
    assert fill("a photo of a {}.", "overcoat") == "a photo of an overcoat."
    assert fill("someone's {}", "trousers") == "someone's trousers"
    assert fill("a {} for sale", "slacks") == "slacks for sale"
    assert zero_shot_prompts()[9][0] == "a photo of an ankle boot."


@pytest.mark.parametrize("label", range(10))
def test_captions_read_naturally(label):
    for text in all_captions(label):
        assert text == text.strip() and "  " not in text and text[0].islower(), text
        assert not re.search(r"\ban? (an?|the)\b", text), text  # "a an", "a the"
        assert not re.search(r"\ba [aeiou]", text), text  # "a overcoat"
        assert not re.search(r"\ban [^aeiou]", text), text  # "an sneaker"
        plural = next((p for p in ("trousers", "pants", "slacks", "jeans") if p in text), None)
        if plural and "pair of" not in text:
            assert not re.search(rf"\ban? {plural}", text), text  # "a trousers"


def test_caption_is_deterministic_under_a_seeded_rng():
    first = [caption(label % 10, random.Random(7)) for label in range(30)]
    again = [caption(label % 10, random.Random(7)) for label in range(30)]
    assert first == again
    rng = random.Random(0)
    assert len({caption(3, rng) for _ in range(200)}) > 30  # varied phrasings
    with pytest.raises(ValueError, match="label"):
        caption(10, rng)


# ----------------------------------------------------------------------------------------------------------
# Fashion-MNIST


@pytest.fixture(scope="module")
def sample():
    return FashionMNISTPairs.sample(resolution=128, seed=0)


def test_sample_file_holds_100_test_images_per_class():
    images, labels = load_sample()
    assert images.shape == (1000, 28, 28) and images.dtype == torch.uint8
    assert labels.shape == (1000,) and labels.dtype == torch.int64
    assert torch.bincount(labels).tolist() == [100] * 10


def test_load_sample_names_a_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="fashion_mnist_sample.npz is missing|sample is missing"):
        load_sample(tmp_path / "fashion_mnist_sample.npz")


def test_fashion_items_have_model_shapes_and_labels(sample):
    assert len(sample) == 1000 and sample.classnames == CLASSNAMES
    image, text, label = sample[5]
    assert image.shape == (3, 128, 128) and image.dtype == torch.float32
    assert isinstance(text, str) and label == int(load_sample()[1][5])
    assert any(phrase in text for phrase in SYNONYMS[label])
    lo, hi = (0 - MEAN) / STD, (1 - MEAN) / STD
    assert (image >= lo - 1e-5).all() and (image <= hi + 1e-5).all()
    torch.testing.assert_close(image[0] * STD[0] + MEAN[0], image[2] * STD[2] + MEAN[2])  # grey: R == B before norm


def test_white_and_black_pixels_map_to_openai_normalisation():
    white = to_model_input(torch.full((28, 28), 255, dtype=torch.uint8), 64)
    black = to_model_input(torch.zeros(28, 28, dtype=torch.uint8), 64)
    torch.testing.assert_close(white, ((1 - MEAN) / STD).expand(3, 64, 64))
    torch.testing.assert_close(black, ((0 - MEAN) / STD).expand(3, 64, 64))


def test_upsampling_is_clamped_bicubic():
    image = torch.zeros(28, 28, dtype=torch.uint8)
    image[10:18, 10:18] = 255  # a sharp square: bicubic overshoots above 1 and below 0 near its edges
    x = to_model_input(image, 112) * STD + MEAN
    ref = torch.nn.functional.interpolate(image.float()[None, None] / 255, size=(112, 112), mode="bicubic",
                                          align_corners=False)[0, 0]
    assert ref.max() > 1 and ref.min() < 0
    torch.testing.assert_close(x[1], ref.clamp(0, 1), atol=1e-5, rtol=0)


def test_captions_change_with_epoch_and_are_reproducible(sample):
    epoch0 = [sample[i][1] for i in range(50)]
    sample.set_epoch(1)
    epoch1 = [sample[i][1] for i in range(50)]
    sample.set_epoch(0)
    assert [sample[i][1] for i in range(50)] == epoch0
    assert sum(a != b for a, b in zip(epoch0, epoch1)) > 40
    fresh = FashionMNISTPairs.sample(resolution=32, seed=0)
    fresh.set_epoch(1)
    assert [fresh.caption(i) for i in range(50)] == epoch1  # a resumed run sees the same captions
    other_seed = FashionMNISTPairs.sample(resolution=32, seed=1)
    assert [other_seed.caption(i) for i in range(50)] != epoch0


def test_pairs_from_given_arrays():
    images = np.arange(2 * 28 * 28, dtype=np.uint8).reshape(2, 28, 28)
    ds = FashionMNISTPairs(images=images, labels=np.array([3, 8]), resolution=32)
    assert len(ds) == 2 and ds[1][2] == 8 and ds[-1][2] == 8 and ds[0][0].shape == (3, 32, 32)
    with pytest.raises(ValueError, match="both"):
        FashionMNISTPairs(images=images)
    with pytest.raises(ValueError, match="labels must be"):
        FashionMNISTPairs(images=images, labels=np.array([3, 10]))


@pytest.mark.skipif(find_fashion_mnist() is None, reason="the full Fashion-MNIST is not on this machine")
def test_full_fashion_mnist_test_split():
    ds = FashionMNISTPairs("test", resolution=64)
    assert len(ds) == 10_000
    sample_images, _ = load_sample()
    assert torch.equal(ds.images[0], sample_images[0])  # the sample starts with the test split's first image


# ----------------------------------------------------------------------------------------------------------
# synthetic shapes


def test_shapes_train_split_never_shows_a_held_out_pair():
    ds = SyntheticShapes(300, resolution=32, seed=0)
    seen = {SHAPE_CLASSES[ds[i][2]] for i in range(len(ds))}
    assert not seen & set(HOLDOUT) and len(seen) == 12 - len(HOLDOUT)
    assert len(ds.classnames) == 12 and ds.classnames[0] == "red circle"


def test_shapes_heldout_split_shows_only_held_out_pairs():
    ds = SyntheticShapes(100, resolution=32, split="heldout")
    assert {SHAPE_CLASSES[ds[i][2]] for i in range(len(ds))} == set(HOLDOUT)
    with pytest.raises(ValueError, match="split"):
        SyntheticShapes(4, split="test")


def test_shapes_are_deterministic_from_the_seed():
    a, b, c = SyntheticShapes(20, seed=3), SyntheticShapes(20, seed=3), SyntheticShapes(20, seed=4)
    for i in range(20):
        assert torch.equal(a[i][0], b[i][0]) and a[i][1:] == b[i][1:]
    assert [a.caption(i) for i in range(20)] != [c.caption(i) for i in range(20)]


@pytest.mark.parametrize("resolution", [32, 64])
def test_shape_caption_matches_the_drawn_pixels(resolution):
    ds = SyntheticShapes(60, resolution=resolution, seed=1)
    colours = {"red": (1, 0, 0), "green": (0, 1, 0), "blue": (0, 0, 1), "yellow": (1, 1, 0)}
    for i in range(len(ds)):
        image, text, label = ds[i]
        size, colour, shape, position = re.fullmatch(r"a (small|large) (\w+) (\w+) in the (.+)", text).groups()
        assert SHAPE_CLASSES[label] == (colour, shape)
        rgb = image * STD + MEAN  # (3, R, R) back in [0, 1]
        q = resolution // 2
        y = q // 2 + (q if position.startswith("bottom") else 0)  # the quadrant's centre is inside the shape
        x = q // 2 + (q if position.endswith("right") else 0)
        torch.testing.assert_close(rgb[:, y, x], torch.tensor(colours[colour], dtype=torch.float32), atol=1e-5,
                                   rtol=0)
        torch.testing.assert_close(rgb[:, 0 if y > q else -1, 0 if x > q else -1], torch.zeros(3), atol=1e-5,
                                   rtol=0)  # the opposite corner is background
        area = (rgb.sum(0) > 0).float().mean().item()
        assert (area > 0.065) == (size == "large"), (text, area)  # small <= 0.055, large >= 0.07


# ----------------------------------------------------------------------------------------------------------
# image folders


def write_image(path, colour=(200, 30, 30), size=(40, 30)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path)
    return path


def test_csv_layout(tmp_path):
    write_image(tmp_path / "imgs" / "a.png")
    write_image(tmp_path / "imgs" / "b.jpg", colour=(0, 0, 255))
    (tmp_path / "pairs.csv").write_text('filepath,caption\nimgs/a.png,a red square\nimgs/b.jpg,"blue, and wide"\n')
    ds = ImageCaptionFolder(tmp_path, csv="pairs.csv", resolution=32)
    assert len(ds) == 2 and ds.classnames is None
    image, text, label = ds[1]
    assert image.shape == (3, 32, 32) and text == "blue, and wide" and label == -1
    assert ImageCaptionFolder(tmp_path / "pairs.csv", resolution=32).captions == ds.captions
    ds.verify()


def test_subfolder_layout(tmp_path):
    write_image(tmp_path / "zebra" / "1.PNG")
    write_image(tmp_path / "apple_tree" / "x.jpeg")
    write_image(tmp_path / "apple_tree" / "y.webp")
    (tmp_path / "apple_tree" / "notes.txt").write_text("not an image")
    ds = ImageCaptionFolder(tmp_path, resolution=48)
    assert ds.classnames == ("apple_tree", "zebra") and len(ds) == 3
    assert [ds[i][1:] for i in range(3)] == [("a photo of an apple tree", 0)] * 2 + [("a photo of a zebra", 1)]
    assert ds[0][0].shape == (3, 48, 48)
    images, captions, labels = collate([ds[i] for i in range(3)])
    assert images.shape == (3, 3, 48, 48) and captions[2] == "a photo of a zebra"
    assert labels.dtype == torch.int64 and labels.tolist() == [0, 0, 1]


def test_missing_root_or_csv(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such folder"):
        ImageCaptionFolder(tmp_path / "nope")
    with pytest.raises(FileNotFoundError, match="missing.csv.*CSV file not found"):
        ImageCaptionFolder(tmp_path, csv="missing.csv")


def test_empty_folder_lists_extensions(tmp_path):
    (tmp_path / "cats").mkdir()
    with pytest.raises(FileNotFoundError, match=r"no images found.*\.png, \.jpg"):
        ImageCaptionFolder(tmp_path)
    (tmp_path / "notes.txt").write_text("no images here")
    with pytest.raises(FileNotFoundError, match=r"no images found in it or its subfolders"):
        ImageCaptionFolder(tmp_path)


def test_flat_folder_of_photos(tmp_path):
    """A folder of photos with no classes (and no CSV) loads: recursively, images only, file names as captions."""
    write_image(tmp_path / "red_dress-2.JPG")
    write_image(tmp_path / "beach.png")
    write_image(tmp_path / "2024" / "summer" / "a cat.webp")
    write_image(tmp_path / ".thumbnails" / "beach.png")  # hidden: a viewer's cache, not a photo
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / "2024" / "list.csv").write_text("not an image either")
    ds = ImageCaptionFolder(tmp_path, resolution=32)
    assert [p.relative_to(tmp_path).as_posix() for p in ds.paths] == ["2024/summer/a cat.webp", "beach.png",
                                                                    "red_dress-2.JPG"]
    assert ds.captions == ["a cat", "beach", "red dress 2"] and ds.labels == [-1] * 3 and ds.classnames is None
    image, caption, label = ds[2]
    assert image.shape == (3, 32, 32) and caption == "red dress 2" and label == -1
    ds.verify()
    # images only inside subfolders, a few levels down and none one level down: still a flat folder
    nested = tmp_path / "nested"
    write_image(nested / "a" / "b" / "deep.png")
    assert ImageCaptionFolder(nested, resolution=32).captions == ["deep"]


def test_csv_saved_by_excel_or_in_utf16(tmp_path):
    """Excel's "CSV UTF-8" starts with a byte-order mark; "Unicode text" is UTF-16 and tab-separated."""
    write_image(tmp_path / "café.png")
    (tmp_path / "bom.csv").write_bytes("filepath,caption\ncafé.png,un café\n".encode("utf-8-sig"))
    assert ImageCaptionFolder(tmp_path, csv="bom.csv").captions == ["un café"]
    (tmp_path / "u16.csv").write_bytes("filepath\tcaption\ncafé.png\tun café\n".encode("utf-16"))
    assert ImageCaptionFolder(tmp_path, csv="u16.csv").captions == ["un café"]


def test_csv_in_another_encoding_gets_a_message(tmp_path):
    write_image(tmp_path / "a.png")
    (tmp_path / "latin.csv").write_bytes("filepath,caption\na.png,un café\n".encode("cp1252"))
    with pytest.raises(ValueError, match=r"latin.csv: line 2 is not UTF-8 text \(byte 0xe9\)\. Save the file as "
                                         r"UTF-8: in Excel, 'Save As' > 'CSV UTF-8"):
        ImageCaptionFolder(tmp_path, csv="latin.csv")


def test_bad_csv_header(tmp_path):
    (tmp_path / "bad.csv").write_text("image,text\na.png,a cat\n")
    with pytest.raises(ValueError, match=r"bad.csv: the first line must be the header `filepath,caption`"):
        ImageCaptionFolder(tmp_path, csv="bad.csv")


def test_csv_names_missing_image_files(tmp_path):
    write_image(tmp_path / "a.png")
    (tmp_path / "c.csv").write_text("filepath,caption\na.png,ok\ngone.png,lost\n")
    with pytest.raises(FileNotFoundError, match=r"(?s)1 image file\(s\) not found.*line 3: .*gone.png"):
        ImageCaptionFolder(tmp_path, csv="c.csv")


def test_unreadable_image_raises_on_access_and_verify_lists_all(tmp_path):
    write_image(tmp_path / "shoes" / "good.png")
    (tmp_path / "shoes" / "fake.png").write_text("this is text, not a PNG")
    (tmp_path / "shoes" / "empty.jpg").write_bytes(b"")
    ds = ImageCaptionFolder(tmp_path, resolution=32)
    bad = ds.paths.index(tmp_path / "shoes" / "fake.png")
    with pytest.raises(ValueError, match=r"fake.png: not a readable image"):
        ds[bad]
    with pytest.raises(ValueError, match=r"(?s)2 of 3 images.*empty.jpg.*fake.png"):
        ds.verify()


def test_decompression_bomb_guard_is_an_error(tmp_path, monkeypatch):
    write_image(tmp_path / "big" / "wide.png", size=(12, 12))  # 144 pixels
    ds = ImageCaptionFolder(tmp_path, resolution=32)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # Pillow only warns between 1x and 2x the limit
    with pytest.raises(ValueError, match=r"wide.png: refused, too many pixels"):
        ds[0]
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 50)  # and raises its own error above 2x
    with pytest.raises(ValueError, match=r"wide.png: refused, too many pixels"):
        ds[0]


def test_collate_shapes(sample):
    images, captions, labels = collate([sample[i] for i in range(4)] + [SyntheticShapes(1, resolution=128)[0]])
    assert images.shape == (5, 3, 128, 128) and len(captions) == 5 and all(isinstance(c, str) for c in captions)
    assert labels.shape == (5,) and labels.dtype == torch.int64


def test_dataloader_workers_see_set_epoch(tmp_path):
    images, labels = load_sample()
    ds = FashionMNISTPairs(images=images[:8], labels=labels[:8], resolution=32, seed=5)
    loader = torch.utils.data.DataLoader(ds, batch_size=4, num_workers=2, collate_fn=collate, timeout=120)
    for epoch in (0, 1):
        ds.set_epoch(epoch)  # workers are re-created per epoch (persistent_workers=False), so they see it
        captions = [c for _, batch, _ in loader for c in batch]
        assert captions == [ds.caption(i) for i in range(8)]
    write_image(tmp_path / "owl" / "x.png")
    folder = ImageCaptionFolder(tmp_path, resolution=32)  # picklable too, for workers that are spawned
    loader = torch.utils.data.DataLoader(folder, num_workers=1, collate_fn=collate, timeout=120)
    images, captions, labels = next(iter(loader))
    assert images.shape == (1, 3, 32, 32) and captions == ["a photo of an owl"] and labels.tolist() == [0]
