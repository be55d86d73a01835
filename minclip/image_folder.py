"""Your own images as (image, caption, label): a CSV of file paths and captions, class subfolders, or any folder.

Three layouts, all common:
    CSV          a file with the header ``filepath,caption`` (comma- or tab-separated), one image per row, paths
                 relative to the CSV's folder. open_clip trains from the same layout (open_clip_train/data.py,
                 CsvDataset); its default column names are ``filepath`` and ``title``, so ``title`` is accepted
                 for ``caption``. Labels are -1 (no classes).
    subfolders   ``root/<class>/<image>``, as torchvision's ImageFolder reads it. Classes are the folder names in
                 sorted order, the label is the class's index, and the caption is "a photo of a <class>" with the
                 article fixed and underscores read as spaces (folder "apple_tree": "a photo of an apple tree").
    flat         a folder of photos with no classes: every image in it and in its subfolders, at any depth, in
                 sorted order; the caption is the file name without its extension, underscores and dashes read
                 as spaces ("red_dress-2.jpg": "red dress 2"). Labels are -1. A folder with images directly in it
                 is read this way; one holding images only inside subfolders is read as classes.

A CSV may be saved by Excel as "CSV UTF-8" (it starts with a byte-order mark) or as UTF-16 text; another encoding
gets a message saying how to save it as UTF-8. Images are read as a viewer shows them and go through CLIP's
preprocessing (minclip.transform: upright, transparency on white, 16-bit grey at its range, bicubic resize of the
short side, centre crop, normalisation). Every error names the file and says what to do. A file that cannot be
decoded fails when it is read, naming its path; ``verify()`` reads them all first and lists every bad file at
once. Pillow warns about images larger than ``PIL.Image.MAX_IMAGE_PIXELS`` (about 89 megapixels: possibly a
"decompression bomb", a small file that decodes to gigabytes); here that warning is an error.
"""

from __future__ import annotations

import csv as csvlib
import io
import re
import warnings
from pathlib import Path

import torch
from PIL import Image, UnidentifiedImageError
from torch.utils.data import Dataset

from minclip.captions import fill
from minclip.transform import preprocess_for, to_rgb

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp")
CLASS_CAPTION = "a photo of a {}"
_CAPTION_COLUMNS = ("caption", "title")


def open_image(path: str | Path) -> Image.Image:
    """Open and fully decode an image as RGB, or raise ValueError / FileNotFoundError naming the file."""
    path = Path(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                return to_rgb(image)  # decodes the whole file
    except (Image.DecompressionBombWarning, Image.DecompressionBombError) as err:
        raise ValueError(
            f"{path}: refused, too many pixels ({err}). A file this large may be a decompression bomb; if you "
            "trust it, resize it, or raise PIL.Image.MAX_IMAGE_PIXELS before loading"
        ) from None
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: image file not found (moved or deleted since the dataset was built?)") \
            from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        raise ValueError(
            f"{path}: not a readable image ({type(err).__name__}: {err}). Replace or delete the file; accepted "
            f"formats: {', '.join(IMAGE_EXTENSIONS)}"
        ) from None


def _decode_csv(csv_path: Path) -> str:
    """The CSV's text: UTF-8 with or without a byte-order mark (Excel's "CSV UTF-8"), or UTF-16 with one."""
    data = csv_path.read_bytes()
    encoding = "utf-16" if data[:2] in (b"\xff\xfe", b"\xfe\xff") else "utf-8-sig"
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as err:
        line = data[:err.start].count(b"\n") + 1
        raise ValueError(
            f"{csv_path}: line {line} is not {encoding.removesuffix('-sig').upper()} text (byte "
            f"0x{data[err.start]:02x}). Save the file as UTF-8: in Excel, 'Save As' > 'CSV UTF-8 (Comma delimited)'; "
            "in LibreOffice, tick 'Edit filter settings' and pick 'Unicode (UTF-8)'"
        ) from None


def _read_csv(csv_path: Path) -> tuple[list[Path], list[str]]:
    """(image paths, captions) from a CSV with a filepath and a caption (or title) column."""
    text = _decode_csv(csv_path)
    first = text.split("\n", 1)[0]
    delimiter = "\t" if "\t" in first and "," not in first else ","
    reader = csvlib.DictReader(io.StringIO(text, newline=""), delimiter=delimiter)
    header = [name.strip() for name in (reader.fieldnames or [])]
    reader.fieldnames = header
    caption_key = next((k for k in _CAPTION_COLUMNS if k in header), None)
    if "filepath" not in header or caption_key is None:
        raise ValueError(
            f"{csv_path}: the first line must be the header `filepath,caption` (found {header or 'nothing'}); "
            "add it, with one image path (relative to the CSV's folder) and one caption per row"
        )
    rows = list(reader)
    if not rows:
        raise ValueError(f"{csv_path}: the CSV has a header but no rows; add one `filepath,caption` row per image")
    paths, captions, missing = [], [], []
    for line, row in enumerate(rows, start=2):
        path = csv_path.parent / (row["filepath"] or "").strip()
        if not (row["filepath"] or "").strip() or not path.is_file():
            missing.append(f"  line {line}: {path}")
        paths.append(path)
        captions.append((row[caption_key] or "").strip())
    if missing:
        shown = "\n".join(missing[:20]) + (f"\n  ... and {len(missing) - 20} more" if len(missing) > 20 else "")
        raise FileNotFoundError(
            f"{csv_path}: {len(missing)} image file(s) not found (paths are relative to the CSV's folder, "
            f"{csv_path.parent}):\n{shown}"
        )
    return paths, captions


def file_caption(path: Path) -> str:
    """A caption from a file name: the name without its extension, underscores and dashes read as spaces.

    Example: "red_dress-2.jpg" -> "red dress 2".
    """
    return " ".join(re.split(r"[\s_-]+", path.stem)).strip() or path.stem


def _is_image(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in IMAGE_EXTENSIONS


class ImageCaptionFolder(Dataset):
    """Images with captions from a CSV, from class subfolders of ``root``, or from any folder of images; items are
    (image (3, R, R), caption, label). ``csv`` is a path, looked up in ``root`` first, then from the working
    directory; ``root`` may also be the CSV itself. Attributes: paths, captions, labels, classnames (None without
    classes)."""

    def __init__(self, root: str | Path, csv: str | Path | None = None, resolution: int = 224):
        root = Path(root)
        if csv is None and root.suffix.lower() == ".csv":
            root, csv = root.parent, root
        if not root.exists():
            raise FileNotFoundError(f"{root}: no such folder; pass the folder holding your images (or the CSV)")
        self.root, self.resolution = root, resolution
        self.transform = preprocess_for(resolution)
        if csv is not None:
            csv_path = Path(csv)
            if not csv_path.is_absolute() and (root / csv_path).is_file():
                csv_path = root / csv_path  # relative to root first, then to the working directory
            if not csv_path.is_file():
                raise FileNotFoundError(f"{csv_path}: CSV file not found; write one with the header "
                                        "`filepath,caption` and one row per image")
            self.paths, self.captions = _read_csv(csv_path)
            self.labels = [-1] * len(self.paths)
            self.classnames: tuple[str, ...] | None = None
        else:
            self._scan_folder()

    def _scan_folder(self) -> None:
        if not self.root.is_dir():
            raise FileNotFoundError(f"{self.root}: not a folder; pass a folder of images, or a CSV")
        classes = sorted(d.name for d in self.root.iterdir() if d.is_dir() and any(map(_is_image, d.iterdir())))
        if any(map(_is_image, self.root.iterdir())) or not classes:
            self._scan_flat()
            return
        self.classnames = tuple(classes)
        self.paths, self.labels, self.captions = [], [], []
        for label, name in enumerate(classes):
            text = fill(CLASS_CAPTION, name.replace("_", " "))
            for path in sorted(p for p in (self.root / name).iterdir() if _is_image(p)):
                self.paths.append(path)
                self.labels.append(label)
                self.captions.append(text)

    def _scan_flat(self) -> None:
        """Every image under root, at any depth (hidden files and folders skipped), captioned by its file name."""
        self.paths = sorted(p for p in self.root.rglob("*") if _is_image(p)
                            and not any(part.startswith(".") for part in p.relative_to(self.root).parts))
        if not self.paths:
            raise FileNotFoundError(
                f"{self.root}: no images found in it or its subfolders; accepted extensions: "
                f"{', '.join(IMAGE_EXTENSIONS)} (any case). Or pass a CSV with the header `filepath,caption`"
            )
        self.captions = [file_caption(p) for p in self.paths]
        self.labels = [-1] * len(self.paths)
        self.classnames = None

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, str, int]:
        image = open_image(self.paths[i])
        return self.transform(image), self.captions[i], self.labels[i]

    def verify(self) -> None:
        """Open every image now; raise one ValueError listing every file that cannot be used."""
        bad = []
        for path in self.paths:
            try:
                open_image(path).close()
            except (ValueError, FileNotFoundError) as err:
                bad.append(f"  {err}")
        if bad:
            raise ValueError(f"{len(bad)} of {len(self.paths)} images under {self.root} cannot be used; fix or "
                             "remove them:\n" + "\n".join(bad))
