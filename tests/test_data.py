"""Tests for minclip.data: finding, loading and rejecting Fashion-MNIST idx files (offline, on tiny fakes)."""

import gzip
import os
from pathlib import Path

import numpy as np
import pytest
import torch

import minclip.data as data
from minclip.data import (
    FASHION_MNIST_CLASSES,
    FASHION_MNIST_FILES,
    IDX_IMAGES_MAGIC,
    IDX_LABELS_MAGIC,
    ensure_fashion_mnist,
    find_fashion_mnist,
    load_fashion_mnist,
    read_idx,
)


def idx_bytes(array: np.ndarray, magic: int) -> bytes:
    """Encode a uint8 array in the idx format: magic, one uint32 per dimension, then the bytes."""
    header = magic.to_bytes(4, "big") + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_fake_fashion_mnist(folder: Path, n_train: int = 5, n_test: int = 3) -> dict:
    """Write four tiny valid idx .gz files into folder; return the arrays written."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    arrays = {}
    for split, prefix, n in (("train", "train", n_train), ("test", "t10k", n_test)):
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, size=(n,), dtype=np.uint8)
        (folder / f"{prefix}-images-idx3-ubyte.gz").write_bytes(
            gzip.compress(idx_bytes(images, IDX_IMAGES_MAGIC))
        )
        (folder / f"{prefix}-labels-idx1-ubyte.gz").write_bytes(
            gzip.compress(idx_bytes(labels, IDX_LABELS_MAGIC))
        )
        arrays[split] = (images, labels)
    return arrays


@pytest.fixture
def no_system_data(monkeypatch, tmp_path):
    """Hide every real copy of Fashion-MNIST: no $MINCLIP_DATA, empty repo and Debian folders."""
    monkeypatch.delenv("MINCLIP_DATA", raising=False)
    monkeypatch.setattr(data, "REPO_DATA_DIR", tmp_path / "no-repo-data")
    monkeypatch.setattr(data, "DEBIAN_DIR", tmp_path / "no-debian-data")


def test_constants():
    assert len(FASHION_MNIST_CLASSES) == 10
    assert FASHION_MNIST_CLASSES[0] == "T-shirt/top" and FASHION_MNIST_CLASSES[9] == "Ankle boot"
    assert len(set(FASHION_MNIST_FILES)) == 4 and all(f.endswith("-ubyte.gz") for f in FASHION_MNIST_FILES)


def test_import_has_no_side_effects(tmp_path):
    import subprocess
    import sys

    data_dir = Path(data.__file__).resolve().parents[1] / "data"
    before = sorted(p.name for p in data_dir.iterdir())
    code = "import minclip, minclip.data; print('ok')"
    env = {**os.environ, "MINCLIP_DATA": str(tmp_path / "env-data")}
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True,
                         env=env)
    assert out.stdout.strip() == "ok" and out.stderr == ""
    assert list(tmp_path.iterdir()) == []  # nothing written where it runs, nothing downloaded
    assert sorted(p.name for p in data_dir.iterdir()) == before


@pytest.mark.parametrize("split", ["train", "test"])
def test_load_fake_split(tmp_path, no_system_data, split):
    arrays = write_fake_fashion_mnist(tmp_path / "fm")
    images, labels = load_fashion_mnist(split, root=tmp_path / "fm", download=False)
    n = {"train": 5, "test": 3}[split]
    assert images.shape == (n, 28, 28) and images.dtype == torch.uint8
    assert labels.shape == (n,) and labels.dtype == torch.int64
    np.testing.assert_array_equal(images.numpy(), arrays[split][0])
    np.testing.assert_array_equal(labels.numpy(), arrays[split][1])


def test_bad_split(tmp_path):
    with pytest.raises(ValueError, match="split"):
        load_fashion_mnist("validation", root=tmp_path)


def test_read_idx_worked_example(tmp_path):
    path = tmp_path / "labels.gz"
    path.write_bytes(gzip.compress(bytes.fromhex("00000801 00000002 0900")))  # the docstring's example
    np.testing.assert_array_equal(read_idx(path, IDX_LABELS_MAGIC), [9, 0])


def corrupt(path: Path, how: str) -> None:
    raw = gzip.decompress(path.read_bytes())
    if how == "truncated":
        path.write_bytes(gzip.compress(raw[:-10]))
    elif how == "wrong-magic":
        path.write_bytes(gzip.compress(b"\x00\x00\x08\x02" + raw[4:]))
    elif how == "not-gzip":
        path.write_bytes(raw)
    elif how == "cut-gzip":
        compressed = path.read_bytes()
        path.write_bytes(compressed[: len(compressed) // 2])
    elif how == "empty":
        path.write_bytes(gzip.compress(b""))


@pytest.mark.parametrize("how", ["truncated", "wrong-magic", "not-gzip", "cut-gzip", "empty"])
@pytest.mark.parametrize("name", ["train-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"])
def test_corrupt_files_name_the_file(tmp_path, no_system_data, how, name):
    write_fake_fashion_mnist(tmp_path)
    corrupt(tmp_path / name, how)
    split = "train" if name.startswith("train") else "test"
    with pytest.raises(ValueError, match=name):
        load_fashion_mnist(split, root=tmp_path, download=False)


def test_images_and_labels_must_agree(tmp_path, no_system_data):
    write_fake_fashion_mnist(tmp_path)
    labels = np.zeros(4, dtype=np.uint8)  # 5 images, 4 labels
    (tmp_path / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_bytes(labels, IDX_LABELS_MAGIC)))
    with pytest.raises(ValueError, match="4 labels"):
        load_fashion_mnist("train", root=tmp_path, download=False)


def test_missing_without_download_explains_what_to_do(tmp_path, no_system_data):
    assert find_fashion_mnist(tmp_path) is None
    with pytest.raises(FileNotFoundError) as err:
        ensure_fashion_mnist(tmp_path, download=False)
    message = str(err.value)
    assert "sudo apt-get install dataset-fashion-mnist" in message
    assert "MINCLIP_DATA" in message and str(tmp_path) in message


def test_failed_download_explains_what_to_do(tmp_path, no_system_data, monkeypatch):
    def offline(target):
        raise RuntimeError("Name or service not known")

    monkeypatch.setattr(data, "_download_with_torchvision", offline)
    with pytest.raises(FileNotFoundError, match="apt-get install dataset-fashion-mnist") as err:
        ensure_fashion_mnist(tmp_path / "fm")
    assert "Name or service not known" in str(err.value)


def test_download_lands_where_it_is_found(tmp_path, no_system_data, monkeypatch):
    monkeypatch.setattr(
        data, "_download_with_torchvision", write_fake_fashion_mnist
    )  # stands in for the network
    assert ensure_fashion_mnist(tmp_path / "fm") == tmp_path / "fm"
    monkeypatch.setenv("MINCLIP_DATA", str(tmp_path / "env"))
    assert ensure_fashion_mnist() == tmp_path / "env" / "fashion-mnist"


def test_find_respects_root_then_env_then_repo(tmp_path, no_system_data, monkeypatch):
    assert find_fashion_mnist() is None
    write_fake_fashion_mnist(tmp_path / "no-repo-data" / "fashion-mnist")
    assert find_fashion_mnist() == tmp_path / "no-repo-data" / "fashion-mnist"
    write_fake_fashion_mnist(tmp_path / "env" / "fashion-mnist")
    monkeypatch.setenv("MINCLIP_DATA", str(tmp_path / "env"))
    assert find_fashion_mnist() == tmp_path / "env" / "fashion-mnist"
    write_fake_fashion_mnist(tmp_path / "mine")
    assert find_fashion_mnist(tmp_path / "mine") == tmp_path / "mine"
    assert find_fashion_mnist(tmp_path / "empty") == tmp_path / "env" / "fashion-mnist"  # falls through


def test_find_needs_all_four_files(tmp_path, no_system_data):
    write_fake_fashion_mnist(tmp_path)
    (tmp_path / FASHION_MNIST_FILES[-1]).unlink()
    assert find_fashion_mnist(tmp_path) is None


def test_cli(tmp_path, no_system_data, capsys):
    write_fake_fashion_mnist(tmp_path)
    assert data.main(["fashion-mnist", "--root", str(tmp_path), "--no-download"]) == 0
    out = capsys.readouterr().out
    assert str(tmp_path) in out and "train: 5 images, test: 3 images" in out
    assert data.main(["--root", str(tmp_path / "empty"), "--no-download"]) == 1
    assert "apt-get install dataset-fashion-mnist" in capsys.readouterr().err


@pytest.mark.skipif(not data.DEBIAN_DIR.is_dir(), reason="Debian's dataset-fashion-mnist is not installed")
def test_real_debian_files_load():
    train_images, train_labels = load_fashion_mnist("train", root=data.DEBIAN_DIR, download=False)
    test_images, test_labels = load_fashion_mnist("test", root=data.DEBIAN_DIR, download=False)
    assert len(train_images) + len(test_images) == 70_000
    assert train_images.shape == (60_000, 28, 28) and test_labels.shape == (10_000,)
    assert torch.bincount(train_labels).tolist() == [6_000] * 10
