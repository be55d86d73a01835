"""The demo app in a real browser: Voila serves app/demo.ipynb (as `make app` does), headless Chromium drives it.

Chromium is Debian's /usr/bin/chromium (CI installs it in .ci/run); Playwright never downloads a browser here.
Every request that is not to 127.0.0.1 is aborted, so the test is hermetic.
"""

import concurrent.futures
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from minclip import demo

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]
TIMEOUT_MS = 120_000  # the kernel loads the model and indexes 1,000 images before the app is ready

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="no /usr/bin/chromium (apt-get install chromium)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, proc: subprocess.Popen, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"voila exited with code {proc.returncode}:\n{proc.stdout.read()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(f"voila did not listen on 127.0.0.1:{port} within {timeout:.0f} s")


@pytest.fixture(scope="module")
def voila_url(tmp_path_factory):
    """Voila serving app/demo.ipynb on a free 127.0.0.1 port, with a fresh index cache; stopped afterwards."""
    pytest.importorskip("voila", reason="voila is a dev dependency: pip install -e '.[dev]'")
    tmp = tmp_path_factory.mktemp("voila")
    port = free_port()
    env = {**os.environ, "MINCLIP_CACHE": str(tmp / "cache"), "OMP_NUM_THREADS": "1"}  # 1 thread: 2 shared cores
    cmd = [sys.executable, "-m", "voila", "--no-browser", f"--port={port}", "--Voila.ip=127.0.0.1",
           str(REPO / "app" / "demo.ipynb")]
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_for_port(port, proc)
        yield f"http://127.0.0.1:{port}/"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def drive(url: str, profile: Path, png: Path, text_file: Path, screenshot: Path) -> None:
    """The user's session; runs in its own thread, where Playwright's sync API finds no asyncio loop."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(str(profile), executable_path=str(CHROMIUM), headless=True,
                                                       args=CHROMIUM_ARGS, viewport={"width": 1200, "height": 1000})
        try:
            context.route("**/*", lambda route: route.continue_() if route.request.url.startswith(
                "http://127.0.0.1") else route.abort())
            page = context.new_page()
            page.set_default_timeout(30_000)
            page.goto(url)
            status = page.locator(".minclip-status")
            page.wait_for_selector(".minclip-status:has-text('ready')", timeout=TIMEOUT_MS)

            def search(text: str) -> list[str]:
                page.locator(".minclip-query input").fill(text)
                page.locator(".minclip-search").click()
                page.wait_for_selector(f".minclip-status:has-text(\"best matches for '{text}'\")")
                page.wait_for_function("document.querySelectorAll('.minclip-gallery img[src^=\"blob:\"]').length"
                                       " == 8")
                return page.locator(".minclip-gallery .widget-label").all_inner_texts()

            labels = search("trousers")
            assert sum("trousers" in label for label in labels) >= 6, labels

            def upload(path: Path) -> None:
                with page.expect_file_chooser() as chooser:
                    page.locator(".widget-upload").click()
                chooser.value.set_files(str(path))

            upload(png)
            page.wait_for_selector(".minclip-status:has-text('trousers.png: trousers')")
            classes = page.locator(".minclip-chart .widget-label").all_inner_texts()
            assert classes[0] == "trousers" and len([c for c in classes if c and not c.endswith("%")]) == 5, classes
            upload(text_file)
            page.wait_for_selector(".minclip-error:has-text('notes.txt')")
            assert "not an image" in status.inner_text()
            labels = search("a handbag")
            assert sum("bag" in label for label in labels) >= 6, labels
            page.screenshot(path=str(screenshot), full_page=True)
        finally:
            context.close()


def test_search_upload_and_bad_upload_in_a_browser(voila_url, tmp_path):
    pytest.importorskip("playwright", reason="playwright is a dev dependency: pip install -e '.[dev]'")
    sample = demo.load_dataset(demo.SAMPLE)
    png = tmp_path / "trousers.png"
    sample.image(sample.labels.index(1)).save(png)
    text_file = tmp_path / "notes.txt"
    text_file.write_text("this is not an image\n")
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(drive, voila_url, tmp_path / "profile", png, text_file, tmp_path / "app.png").result()
    assert (tmp_path / "app.png").stat().st_size > 0
