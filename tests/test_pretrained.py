"""OpenAI's released models by name: the download path, tested against a local HTTP server on 127.0.0.1 that
serves a small TorchScript archive in place of OpenAI's (progress, resume after a cut connection, a server that
ignores ranges, hash mismatch, a damaged cached file, and the message when the address cannot be reached)."""

import hashlib

import pytest
import torch

import minclip
from minclip import pretrained
from minclip.pretrained import DownloadError
from tests.release_server import TINY, closed_port


def same_outputs(a, b):
    torch.manual_seed(1)
    images, tokens = torch.randn(2, 3, 64, 64), a.tokenize(["a dog", "an ankle boot"])
    with torch.no_grad():
        return torch.equal(a.encode_image(images), b.encode_image(images)) and torch.equal(
            a.encode_text(tokens), b.encode_text(tokens))


def test_named_model_downloads_with_progress_then_loads_from_the_cache(archive, serve, tmp_path, capsys):
    model, body = archive
    server = serve(body)
    seen = []
    loaded, preprocess = minclip.load("ViT-B/32", device="cpu", download_root=tmp_path,
                                      progress=lambda done, total: seen.append((done, total)))
    assert same_outputs(loaded, model) and loaded.config == TINY
    assert (tmp_path / "ViT-tiny.pt").read_bytes() == body and sorted(p.name for p in tmp_path.iterdir()) == [
        "ViT-tiny.pt"]
    assert seen[-1] == (len(body), len(body)) and all(a[0] < b[0] for a, b in zip(seen, seen[1:]))
    minclip.load("ViT-B/32", device="cpu", download_root=tmp_path)  # from the cache: no second request
    assert server.requests == [None]
    (tmp_path / "ViT-tiny.pt").unlink()
    minclip.load("ViT-B/32", device="cpu", download_root=tmp_path, progress=True)  # the default: a tqdm bar
    assert "ViT-B/32" in capsys.readouterr().err


@pytest.mark.parametrize("ranges", [True, False], ids=["resumed", "server-ignores-ranges"])
def test_cut_download_leaves_no_final_file_and_resumes(archive, serve, tmp_path, ranges):
    model, body = archive
    half = len(body) // 2
    server = serve(body, cut_after=half, ranges=ranges)
    with pytest.raises(DownloadError, match="ViT-B/32.*the download failed.*will be resumed") as err:
        minclip.load("ViT-B/32", device="cpu", download_root=tmp_path, progress=False)
    assert str(tmp_path / "ViT-tiny.pt") in str(err.value)
    assert not (tmp_path / "ViT-tiny.pt").exists()  # only a complete, checked file gets the final name
    assert (tmp_path / "ViT-tiny.pt.part").stat().st_size == half
    loaded, _ = minclip.load("ViT-B/32", device="cpu", download_root=tmp_path, progress=False)
    assert server.requests == [None, f"bytes={half}-"]
    assert same_outputs(loaded, model) and (tmp_path / "ViT-tiny.pt").read_bytes() == body
    assert not (tmp_path / "ViT-tiny.pt.part").exists()


def test_complete_part_file_is_checked_and_renamed(archive, serve, tmp_path):
    """Interrupted between the last byte and the rename: the server answers 416 and the bytes are kept."""
    _, body = archive
    server = serve(body)
    (tmp_path / "ViT-tiny.pt.part").write_bytes(body)
    minclip.load("ViT-B/32", device="cpu", download_root=tmp_path, progress=False)
    assert server.requests == [f"bytes={len(body)}-"] and (tmp_path / "ViT-tiny.pt").read_bytes() == body


def test_hash_mismatch_keeps_nothing(archive, serve, tmp_path):
    _, body = archive
    server = serve(body, published="0" * 64)
    with pytest.raises(DownloadError) as err:
        minclip.load("ViT-B/32", device="cpu", download_root=tmp_path, progress=False)
    message = str(err.value)
    for part in ("'ViT-B/32'", server.url("0" * 64), str(tmp_path / "ViT-tiny.pt"), hashlib.sha256(body).hexdigest(),
                 "not the published " + "0" * 64):
        assert part in message
    assert list(tmp_path.iterdir()) == []


def test_damaged_cached_file_is_replaced(archive, serve, tmp_path):
    model, body = archive
    serve(body)
    (tmp_path / "ViT-tiny.pt").write_bytes(body[:100])
    loaded, _ = minclip.load("ViT-B/32", device="cpu", download_root=tmp_path, progress=False)
    assert same_outputs(loaded, model) and (tmp_path / "ViT-tiny.pt").read_bytes() == body


def test_offline_error_says_where_to_put_the_file(archive, monkeypatch, tmp_path):
    sha = hashlib.sha256(archive[1]).hexdigest()
    url = f"http://127.0.0.1:{closed_port()}/{sha}/ViT-tiny.pt"  # the connection is refused, as offline
    monkeypatch.setitem(pretrained.OPENAI_MODELS, "ViT-B/32", url)
    with pytest.raises(DownloadError) as err:
        minclip.load("ViT-B/32", device="cpu", download_root=tmp_path / "clip", progress=False)
    message = str(err.value)
    for part in ("'ViT-B/32'", url, f"place the file at {tmp_path / 'clip' / 'ViT-tiny.pt'}", sha, "download_root"):
        assert part in message
    # a file fetched by other means and placed there is used, with no request
    (tmp_path / "clip" / "ViT-tiny.pt").write_bytes(archive[1])
    loaded, _ = minclip.load("ViT-B/32", device="cpu", download_root=tmp_path / "clip")
    assert same_outputs(loaded, archive[0])


def test_names_addresses_and_cache_follow_openai_clip():
    assert list(pretrained.OPENAI_MODELS) == ["RN50", "RN101", "RN50x4", "RN50x16", "RN50x64", "ViT-B/32", "ViT-B/16",
                                              "ViT-L/14", "ViT-L/14@336px"]
    for url in pretrained.OPENAI_MODELS.values():
        assert url.startswith("https://openaipublic.azureedge.net/clip/models/")
        assert len(url.rsplit("/", 2)[-2]) == 64
    assert pretrained.cached_path("ViT-L/14@336px").parts[-3:] == (".cache", "clip", "ViT-L-14-336px.pt")
    with pytest.raises(ValueError, match="jit=False"):
        minclip.load("ViT-B/32", jit=True)


def test_addresses_equal_open_clips_record():
    open_clip = pytest.importorskip("open_clip")
    for name, url in pretrained.OPENAI_MODELS.items():
        oc_name = name.replace("/", "-").replace("@336px", "-336")
        assert open_clip.get_pretrained_cfg(oc_name, "openai")["url"] == url
