"""OpenAI's released models by name: the download path, tested against a local HTTP server on 127.0.0.1 that
serves a small TorchScript archive in place of OpenAI's (progress, resume after a cut connection, a server that
ignores ranges, hash mismatch, a damaged cached file, and the message when the address cannot be reached)."""

import hashlib
import socket
import threading
import warnings
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import torch

import minclip
from minclip import pretrained
from minclip.model import CLIP, CLIPConfig
from minclip.pretrained import DownloadError

TINY = CLIPConfig(64, 64, 2, 64, 16, context_length=16, transformer_width=64, transformer_heads=1,
                  transformer_layers=2)


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    """(model, bytes of its TorchScript archive in openai/CLIP's release format)."""
    torch.manual_seed(0)
    model = CLIP(TINY).eval()
    for name, value in [("input_resolution", 64), ("context_length", 16), ("vocab_size", 49408)]:
        model.register_buffer(name, torch.tensor(value))
    path = tmp_path_factory.mktemp("archive") / "ViT-tiny.pt"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(model, (torch.randn(1, 3, 64, 64), model.tokenize(["a dog"])), check_trace=False)
        torch.jit.save(traced, path)
    return model, path.read_bytes()


class Server:
    """Serves `body` at any path; `cut_after` bytes then a dropped connection (once); `ranges`: honour Range."""

    def __init__(self, body: bytes, cut_after: int | None = None, ranges: bool = True):
        self.body, self.cut_after, self.ranges, self.requests = body, cut_after, ranges, []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                server.requests.append(self.headers.get("Range"))
                start = 0
                if server.ranges and self.headers.get("Range"):
                    start = int(self.headers["Range"].removeprefix("bytes=").rstrip("-"))
                    if start >= len(server.body):
                        self.send_response(416)
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(server.body) - 1}/{len(server.body)}")
                else:
                    self.send_response(200)
                self.send_header("Content-Length", str(len(server.body) - start))
                self.end_headers()
                if server.cut_after is not None:
                    self.wfile.write(server.body[start:server.cut_after])
                    server.cut_after = None
                    self.close_connection = True
                    return
                self.wfile.write(server.body[start:])

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def url(self, sha256: str, name: str = "ViT-tiny.pt") -> str:
        return f"http://127.0.0.1:{self.httpd.server_port}/{sha256}/{name}"

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def serve(monkeypatch):
    """serve(body, published_sha256=None, **options) -> Server, with OpenAI's "ViT-B/32" pointing at it."""
    servers = []

    def start(body, published=None, **options):
        server = Server(body, **options)
        servers.append(server)
        monkeypatch.setitem(pretrained.OPENAI_MODELS, "ViT-B/32",
                            server.url(published or hashlib.sha256(body).hexdigest()))
        return server

    yield start
    for server in servers:
        server.close()


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
    with socket.socket() as s:  # a port nothing listens on: the connection is refused, as offline
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    sha = hashlib.sha256(archive[1]).hexdigest()
    url = f"http://127.0.0.1:{port}/{sha}/ViT-tiny.pt"
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
