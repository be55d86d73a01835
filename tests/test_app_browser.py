"""The demo app in a real browser: Voila serves app/demo.ipynb (as `make app` does), headless Chromium drives it
through its defaults (the scenes model on the scenes sample): scene searches, the colour preset, uploads.

Chromium is Debian's /usr/bin/chromium (CI installs it in .ci/run); Playwright never downloads a browser here.
Every request that is not to 127.0.0.1 is aborted, so the test is hermetic. Voila starts with the Makefile's
VOILA_ARGS (its settings: app/voila.json), only with a shorter idle time before closed pages' kernels are shut down.
"""

import concurrent.futures
import http.client
import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from minclip import demo
from minclip.demo_view import THUMB
from tests.conftest import CHROMIUM, CHROMIUM_ARGS

REPO = Path(__file__).resolve().parents[1]
TIMEOUT_MS = 120_000  # the kernel loads the model and indexes 1,000 images before the app is ready
# of the 8 results of the default (the scenes model on the scenes sample), at least this many show what was asked:
# something red for "two red sneakers", two items one above the other for "a bag above a coat" (tests/test_demo.py
# checks these searches against the scenes' contents)
RED, ONE_ABOVE_ANOTHER = 6, 4
CULL_AFTER_S = 20  # the test's idle time before a closed page's kernel is shut down (app/voila.json: 120 s)

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not CHROMIUM.exists(), reason="no /usr/bin/chromium (apt-get install chromium)")]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def voila_args() -> list[str]:
    """The flags `make app` gives Voila (the Makefile's VOILA_ARGS): one place for them."""
    found = re.search(r"^VOILA_ARGS := (.*)$", (REPO / "Makefile").read_text(), flags=re.MULTILINE)
    assert found, "the Makefile lost VOILA_ARGS"
    return found.group(1).split()


def kernels(proc: subprocess.Popen) -> int:
    """How many kernels Voila runs now: its child processes."""
    import psutil

    return len(psutil.Process(proc.pid).children())


def wait_for_port(port: int, proc: subprocess.Popen, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"voila exited with code {proc.returncode}")
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
    cmd = [sys.executable, "-m", "voila", *voila_args(), f"--port={port}",
           f"--MappingKernelManager.cull_idle_timeout={CULL_AFTER_S}", "--MappingKernelManager.cull_interval=2",
           "app/demo.ipynb"]
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port, proc)
        yield f"http://127.0.0.1:{port}/", proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def drive(url: str, profile: Path, png: Path, text_file: Path, big_file: Path, photos: Path, screenshot: Path) -> None:
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
            assert f"1,000 images of {demo.SCENES}" in status.inner_text()  # the defaults: scenes, scenes model
            assert demo.DEFAULT_MODEL in status.inner_text()

            def search(text: str) -> list[str]:
                page.locator(".minclip-query input").fill(text)
                page.locator(".minclip-search").click()
                page.wait_for_selector(f".minclip-status:has-text(\"best matches for '{text}'\")")
                page.wait_for_function("[...document.querySelectorAll('.minclip-gallery img')].filter(img => "
                                       f"img.src.startsWith('blob:') && img.naturalWidth == {THUMB}).length == 8")
                return page.locator(".minclip-gallery .widget-label").all_inner_texts()

            def classes() -> list[str]:
                names = page.locator(".minclip-chart .widget-label").all_inner_texts()
                return [c for c in names if c and not c.endswith("%")]

            # scene queries: the captions say what each result shows (minclip.demo.describe_scene), after its score
            labels = search("a bag above a coat")
            assert sum(bool(re.search(" (above|below) ", label)) for label in labels) >= ONE_ABOVE_ANOTHER, labels
            labels = search("two red sneakers")
            assert sum("red" in label for label in labels) >= RED, labels
            # the colour preset fills the class list; a result that is one red item is classified "a red item"
            labels = search("a red item")
            several = re.compile(r",| and | above | below | of ")  # a list, or a relation between two items
            slot = next(i for i, label in enumerate(labels) if "red" in label and not several.search(label))
            page.locator(".minclip-preset select").select_option("colour")
            page.wait_for_function("document.querySelector('.minclip-classes textarea').value.startsWith("
                                   "'a black item\\na white item')")
            page.locator(".minclip-gallery button").nth(slot).click()
            page.wait_for_selector(".minclip-status:has-text('): a red item (')")
            assert classes()[0] == "a red item" and len(classes()) == 5, classes()
            assert page.locator(".minclip-prompt").inner_text() == "reads: a photo of a black item."

            def upload(path: Path) -> None:
                with page.expect_file_chooser() as chooser:
                    page.locator(".widget-upload").click()
                chooser.value.set_files(str(path))

            page.locator(".minclip-preset select").select_option("items")
            upload(png)  # a Fashion-MNIST image, in the data set's own look
            page.wait_for_selector(".minclip-status:has-text('trousers.png: a trouser')")
            assert classes()[0] == "a trouser" and len(classes()) == 5, classes()
            upload(text_file)
            page.wait_for_selector(".minclip-error:has-text('notes.txt')")
            assert "not an image" in status.inner_text()
            # a file over the upload limit is refused in the browser, before it is sent (70 MiB would close the
            # websocket, and every later upload would be lost), with the app's message; later uploads still work
            upload(big_file)
            page.wait_for_selector(".minclip-error:has-text('big.png')")
            assert "big.png: the file is 70.0 MiB, more than the 10.0 MiB allowed" in status.inner_text()
            upload(png)
            page.wait_for_selector(".minclip-status:has-text('trousers.png: a trouser')")
            # a plain folder of photos, no classes, no CSV: file names are the captions
            page.locator(".minclip-dataset input").fill(str(photos))
            page.locator(".minclip-load").click()
            page.wait_for_selector(f".minclip-status:has-text('ready: 12 images of {photos}')", timeout=TIMEOUT_MS)
            labels = search("trousers")
            assert sum("trousers" in label for label in labels[:5]) >= 4, labels
            page.screenshot(path=str(screenshot), full_page=True)
            for _ in range(2):  # two more page loads: two more kernels, whose pages are then gone
                page.reload()
                page.wait_for_selector(".minclip-status:has-text('ready')", timeout=TIMEOUT_MS)
        finally:
            context.close()


def test_search_upload_and_bad_upload_in_a_browser(voila_url, tmp_path):
    pytest.importorskip("playwright", reason="playwright is a dev dependency: pip install -e '.[dev]'")
    url, proc = voila_url
    sample = demo.load_dataset(demo.SAMPLE)
    png = tmp_path / "trousers.png"
    sample.image(sample.labels.index(1)).save(png)
    text_file = tmp_path / "notes.txt"
    text_file.write_text("this is not an image\n")
    big_file = tmp_path / "big.png"
    big_file.write_bytes(png.read_bytes() + bytes(70 * 2**20))  # a PNG, then 70 MiB: over the websocket's limit too
    photos = tmp_path / "photos"
    for name, label in [("trousers", 1), ("bag", 8)]:
        for k in range(6):
            (photos / ("more" if k > 3 else "")).mkdir(parents=True, exist_ok=True)
            sample.image([i for i, y in enumerate(sample.labels) if y == label][k]).save(
                photos / ("more" if k > 3 else "") / f"{name}_{k}.png")
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(drive, url, tmp_path / "profile", png, text_file, big_file, photos, tmp_path / "app.png").result()
    assert (tmp_path / "app.png").stat().st_size > 0
    # three page loads started three kernels; with every page closed, none may stay (each holds about 0.8 GB)
    deadline = time.monotonic() + CULL_AFTER_S + 40
    while kernels(proc) and time.monotonic() < deadline:
        time.sleep(1)
    assert kernels(proc) == 0


def get(url: str, host: str) -> tuple[int, str]:
    port = int(url.rstrip("/").rsplit(":", 1)[1])
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT_MS / 1000)
    connection.request("GET", "/", headers={"Host": host})
    response = connection.getresponse()
    return response.status, response.read().decode("utf-8", "replace")


async def websocket_status(url: str, origin: str) -> int:
    """101 if the kernel's websocket opens for a page from ``origin``, else the HTTP status of the refusal."""
    from tornado.httpclient import HTTPClientError, HTTPRequest
    from tornado.websocket import websocket_connect

    try:
        socket = await websocket_connect(HTTPRequest(url, headers={"Origin": origin}))
    except HTTPClientError as err:
        return err.code
    socket.close()
    return 101


def test_only_localhost_may_reach_the_server(voila_url):
    """A page on another site reaching 127.0.0.1 by DNS rebinding sends its own name as Host: refused, no kernel
    started; a page on another site connecting to a kernel's websocket sends its own Origin: refused."""
    import asyncio

    url, proc = voila_url
    port = url.rstrip("/").rsplit(":", 1)[1]
    before = kernels(proc)
    assert get(url, f"attacker.example:{port}")[0] == 403
    assert get(url, f"127.0.0.1.attacker.example:{port}")[0] == 403
    assert kernels(proc) == before
    status, page = get(url, f"localhost:{port}")  # the app's own page starts a kernel
    assert status == 200
    kernel = re.search(r'"kernelId":\s*"([0-9a-f-]{36})"', page).group(1)
    channels = f"ws://127.0.0.1:{port}/api/kernels/{kernel}/channels"
    assert asyncio.run(websocket_status(channels, f"http://attacker.example:{port}")) == 403
    assert asyncio.run(websocket_status(channels, f"http://127.0.0.1:{port}")) == 101


def test_the_websocket_takes_more_than_the_upload_limit():
    """An upload over the app's limit reaches the app, which says so, instead of closing the websocket silently."""
    settings = json.loads((REPO / "app" / "voila.json").read_text())
    assert settings["Voila"]["tornado_settings"]["websocket_max_message_size"] >= 4 * demo.MAX_UPLOAD_BYTES
    assert settings["Voila"]["tornado_settings"]["allow_remote_access"] is False
    assert settings["MappingKernelManager"]["cull_idle_timeout"] > 0
