"""Shared pytest fixtures for minclip's tests, and the markers of the slow parts.

Markers (registered in pyproject.toml): `book` (nbval on every chapter, the book build and the tests that read
it), `browser` (headless Chromium), `training` (tests that train a model for several steps or in subprocesses),
`slow` (the wheel install, full-size models against open_clip). `make test-fast` runs everything else:
`pytest -m "not (book or browser or training or slow)"`. Chapters and tests that ask for the built book or a
browser are marked here, by what they use, so a new test that asks for `built_book` is a book test without anyone
remembering to mark it.
"""

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

from minclip import pretrained
from tests.release_server import Server, release_archive

REPO = Path(__file__).resolve().parents[1]
BOOK_FIXTURES = {"built_book", "widget_book", "wide_line_book"}


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects by marker
def pytest_collection_modifyitems(config, items):
    """Mark nbval's notebook cells and tests using the built book `book`, tests using a browser `browser`."""
    for item in items:
        used = set(getattr(item, "fixturenames", ()))
        if item.path.suffix == ".ipynb" or used & BOOK_FIXTURES:
            item.add_marker(pytest.mark.book)
        if "browser" in used:
            item.add_marker(pytest.mark.browser)


# Debian's chromium (apt-get install -y chromium), driven by Playwright; never a downloaded browser
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]


def jupyter_book_exe() -> Path:
    """The `jupyter-book` script of the interpreter running the tests (the .venv's under `make test`)."""
    exe = Path(sys.executable).parent / "jupyter-book"
    assert exe.exists(), (
        f"jupyter-book not found next to {sys.executable}; install the dev extra: pip install -e '.[dev]'"
    )
    return exe


def build_book(source: Path, out: Path) -> Path:
    """Build the Jupyter Book at `source` as `make book` does (-W -n: any warning fails) into `out`; return html/."""
    cmd = [str(jupyter_book_exe()), "build", "-W", "-n", "--keep-going", str(source), "--path-output", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, (
        f"book build failed ({' '.join(cmd)}):\n{proc.stdout[-6000:]}\n{proc.stderr[-6000:]}"
    )
    return out / "_build" / "html"


@pytest.fixture(scope="session")
def built_book(tmp_path_factory) -> Path:
    """The book built as `make book` builds it, into a temporary folder; its html/ folder.

    Session-scoped: every test that asks for it shares one build (a few seconds with committed outputs, since the
    book never executes notebooks). Tests only read it.
    """
    return build_book(REPO, tmp_path_factory.mktemp("book"))


@pytest.fixture(scope="session")
def archive(tmp_path_factory):
    """(model, bytes of its TorchScript archive in openai/CLIP's release format): a small stand-in for OpenAI's."""
    return release_archive(tmp_path_factory.mktemp("archive") / "ViT-tiny.pt")


@pytest.fixture
def serve(monkeypatch):
    """serve(body, published_sha256=None, **options) -> Server on 127.0.0.1, with OpenAI's "ViT-B/32" pointing at
    it (published_sha256 defaults to body's own)."""
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


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium for the book's pages (skipped where /usr/bin/chromium is missing). Per module: Playwright's
    event loop stays open while it lives, and test_app_browser needs asyncio.run between its tests."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing (apt-get install -y chromium); the browser checks need it")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()
