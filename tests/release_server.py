"""A stand-in for OpenAI's download server on 127.0.0.1, and a small archive in the release format, for the tests
of minclip.pretrained and of the demo app's downloads."""

import socket
import threading
import warnings
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import torch

from minclip.model import CLIP, CLIPConfig

TINY = CLIPConfig(embed_dim=64, image_resolution=64, vision_layers=2, vision_width=64, vision_patch_size=16,
                  context_length=16, transformer_width=64, transformer_heads=1,
                  transformer_layers=2)


def release_archive(path) -> tuple[CLIP, bytes]:
    """(model, bytes of its TorchScript archive in openai/CLIP's release format), written to `path`."""
    torch.manual_seed(0)
    model = CLIP(TINY).eval()
    for name, value in [("input_resolution", 64), ("context_length", 16), ("vocab_size", 49408)]:
        model.register_buffer(name, torch.tensor(value))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(model, (torch.randn(1, 3, 64, 64), model.tokenize(["a dog"])), check_trace=False)
        torch.jit.save(traced, path)
    return model, path.read_bytes()


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on: connecting is refused, as on a machine that is offline."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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


