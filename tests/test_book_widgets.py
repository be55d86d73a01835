"""The built book renders saved widget state offline, with vendored JavaScript and no request to a CDN.

A notebook executed with ipywidgets installed (a `tqdm.auto` progress bar, a slider) saves its widget state; the
built page turns that state back into widgets with RequireJS and @jupyter-widgets/html-manager's `embed-amd.js`,
which myst-nb would fetch from cdnjs and jsDelivr. `_config.yml` (`nb_ipywidgets_js`) points it at the copies in
`_vendor/widgets-js/` instead (see `_vendor/README.md`).

The browser checks open built pages from disk (file://, as a reader opens the book) in headless Chromium: Debian's
/usr/bin/chromium driven by Playwright (never `playwright install`), with every request that is not a local file
refused and recorded. A small fixture book, built with the real `_config.yml` and `_vendor/`, holds a notebook of
known widget state, made with `ipywidgets.embed` without a kernel, so the JavaScript is checked whatever the
chapters hold; the chapters that save widget state are checked too.
"""

import re
import shutil
from pathlib import Path

import nbformat
import pytest
from ipywidgets import HTML, Button, FloatProgress, HBox
from ipywidgets.embed import embed_data
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from tests.conftest import REPO, build_book

# sphinx-thebe declares THEBE_JS_URL twice on every page: a harmless error that has nothing to do with widgets
KNOWN_PAGE_ERRORS = ("Identifier 'THEBE_JS_URL' has already been declared",)
WIDGET_SCRIPTS = ("require.js", "offline.js", "embed-amd.js")  # in _vendor/widgets-js/, loaded in this order
VIEW = "application/vnd.jupyter.widget-view+json"
STATE = "application/vnd.jupyter.widget-state+json"
MISSING_PACKAGE = "example-widgets"  # a widget package that embed-amd.js does not bundle and nobody vendored


# -----------------------------------------------------------------------------
# helpers


def widget_notebook() -> nbformat.NotebookNode:
    """A chapter with TeX maths, two widget outputs with saved state, and one from a package that is nowhere.

    The first is what `tqdm.auto` draws (an HBox of an HTML label, a FloatProgress and an HTML count) at 30 of 40
    (the bar with a description, which the manager typesets with MathJax),
    the second a Button with a Font Awesome icon, the third a model of MISSING_PACKAGE.
    """
    progress = FloatProgress(value=30, max=40, bar_style="success", description="step")
    bar = HBox([HTML("training: "), progress, HTML("30/40 [00:03]")])
    data = embed_data(views=[bar, Button(description="stop", icon="stop")], drop_defaults=False)
    state = data["manager_state"]
    state["state"]["missing"] = {
        "model_name": "CanvasModel", "model_module": MISSING_PACKAGE, "model_module_version": "^1.0.0", "state": {},
    }
    views = [*data["view_specs"], {"version_major": 2, "version_minor": 0, "model_id": "missing"}]
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["widgets"] = {STATE: state}
    # maths on the same page: MathJax 3 is loaded, and the widgets' MathJax 2 calls must not break (offline.js)
    nb.cells.append(nbformat.v4.new_markdown_cell("# Widgets\n\nWith maths: $\\ell = -\\log p$."))
    for count, view in enumerate(views, start=1):
        out = nbformat.v4.new_output("display_data", data={"text/plain": "widget", VIEW: view})
        nb.cells.append(nbformat.v4.new_code_cell(f"widget_{count}", execution_count=count, outputs=[out]))
    return nb


def write_widget_book(root: Path) -> Path:
    """A two-page book at `root` with the repository's _config.yml and _vendor/: book/intro.md, book/widgets.ipynb.

    The chapter sits in book/ like the real ones, so the script paths have the same depth.
    """
    root.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "_config.yml", root / "_config.yml")
    shutil.copytree(REPO / "_vendor", root / "_vendor")
    (root / "_toc.yml").write_text("format: jb-book\nroot: book/intro\nchapters:\n  - file: book/widgets\n")
    (root / "book").mkdir()
    (root / "book" / "intro.md").write_text("# Intro\n\nA page without widgets.\n")
    nbformat.write(widget_notebook(), root / "book" / "widgets.ipynb")
    return root


def script_sources(html: str) -> list[str]:
    """The src of every <script> of a page, query string (Sphinx's ?v=hash) dropped."""
    return [src.split("?")[0] for src in re.findall(r'<script\b[^>]*\bsrc="([^"]*)"', html)]


def book_pages(html_root: Path) -> list[Path]:
    """The built pages (not the theme's templates under _static/)."""
    return sorted(p for p in html_root.rglob("*.html") if p.relative_to(html_root).parts[0] != "_static")


def widget_pages(html_root: Path) -> list[Path]:
    """The built pages that hold widget outputs."""
    return [p for p in book_pages(html_root) if f'type="{VIEW}"' in p.read_text(encoding="utf-8")]


def open_offline(browser, page_path: Path) -> dict:
    """Open a built page from disk, refusing every request that is not file://, and wait for its widgets.

    Returns the rendered widgets and what happened on the way: `requests` (every URL asked for), `refused` (those
    that would have left the machine), `failed` (local files that were not found), `errors` (uncaught page errors).
    """
    seen = {"requests": [], "refused": [], "failed": [], "errors": []}

    def route(r):
        seen["requests"].append(r.request.url)
        if r.request.url.startswith("file://"):
            r.continue_()
        else:
            seen["refused"].append(r.request.url)
            r.abort()

    context = browser.new_context()
    try:
        context.route("**/*", route)
        page = context.new_page()
        page.on("pageerror", lambda e: seen["errors"].append(str(e)))
        page.on("requestfailed", lambda r: seen["failed"].append(r.url))
        page.goto(page_path.as_uri())
        views = page.locator(f'script[type="{VIEW}"]').count()
        # embed-amd.js puts each view in a .widget-subarea beside its script tag
        try:
            page.wait_for_function(
                "n => document.querySelectorAll('.widget-subarea > .jupyter-widgets').length >= n", arg=views,
                timeout=20_000,
            )
        except PlaywrightTimeoutError:
            problems = {k: seen[k] for k in ("refused", "failed", "errors")}
            pytest.fail(f"{page_path.name}: {views} widgets never rendered; {problems}")
        page.wait_for_load_state("networkidle")  # the fonts the widget CSS asks for
        seen["views"] = views
        seen["rendered"] = page.locator(".widget-subarea > .jupyter-widgets").count()
        seen["broken"] = page.locator(".jupyter-widgets-error-widget").count()
        seen["progress"] = page.eval_on_selector_all(
            ".widget-hprogress .progress-bar", "els => els.map(e => [e.style.width, e.className])"
        )
        seen["html"] = page.locator(".widget-html-content").all_inner_texts()
        seen["buttons"] = page.locator(".widget-button").all_inner_texts()
        seen["maths"] = page.locator("mjx-container").count()  # formulas MathJax 3 typeset
    finally:
        context.close()
    return seen


# -----------------------------------------------------------------------------
# fixtures


@pytest.fixture(scope="module")
def widget_book(tmp_path_factory) -> Path:
    """The fixture book of `write_widget_book`, built; its html/ folder."""
    root = write_widget_book(tmp_path_factory.mktemp("widget-book") / "src")
    return build_book(root, root.parent / "out")



# -----------------------------------------------------------------------------
# the book's HTML


def test_pages_load_only_local_scripts_and_styles(built_book):
    pages = book_pages(built_book)
    assert len(pages) > 3
    for page in pages:
        html = page.read_text(encoding="utf-8")
        name = page.relative_to(built_book)
        remote = re.findall(r'<(?:script|link)\b[^>]*\b(?:src|href)="((?:https?:)?//[^"]*)"', html)
        assert not remote, f"{name} loads {remote} from the network"
        for cdn in ("jsdelivr", "cdnjs", "html-manager@", "require.min.js"):
            assert cdn not in html, f"{name} mentions {cdn!r}: widget JavaScript from a CDN"
        for src in script_sources(html):
            assert (page.parent / src).resolve().is_file(), f"{name}: <script src={src!r}> is not in the build"


def test_widget_javascript_is_vendored_not_in_static(built_book):
    for name in WIDGET_SCRIPTS:
        assert (built_book / "widgets-js" / name).is_file()
        assert not list((built_book / "_static").rglob(name)), f"{name} in _static/ would load on every page"


def test_fixture_page_loads_the_vendored_scripts_in_order(widget_book):
    html = (widget_book / "book" / "widgets.html").read_text(encoding="utf-8")
    assert f'<script type="{STATE}">' in html
    assert [s for s in script_sources(html) if "widgets-js" in s] == [
        f"../_static/../widgets-js/{name}" for name in WIDGET_SCRIPTS
    ]
    intro = (widget_book / "book" / "intro.html").read_text(encoding="utf-8")
    assert "widgets-js" not in intro  # a page without widget state loads none of it


# -----------------------------------------------------------------------------
# in the browser


def test_fixture_widgets_render_offline(widget_book, browser):
    seen = open_offline(browser, widget_book / "book" / "widgets.html")
    assert seen["refused"] == [], "requests that would have left the machine"
    assert all(e.startswith(KNOWN_PAGE_ERRORS) for e in seen["errors"]), seen["errors"]
    vendored = (widget_book / "widgets-js").as_uri()
    for name in WIDGET_SCRIPTS:
        assert any(u.split("?")[0] == f"{vendored}/{name}" for u in seen["requests"]), f"{name} was not loaded"
    # the saved state, shown: the progress bar at 30/40 in the success colour, its labels, the button
    assert seen["rendered"] == seen["views"] == 3
    assert seen["progress"] == [["75%", "progress-bar progress-bar-success"]]
    assert seen["html"] == ["training:", "30/40 [00:03]"]
    assert [t.strip() for t in seen["buttons"]] == ["stop"]
    # the page's maths is typeset by MathJax 3 beside the widgets (whose MathJax 2 calls offline.js redirects)
    assert seen["maths"] >= 1
    # the missing package: an error widget, looked for only in local folders (its fallback "CDN" is widgets-js/npm/)
    assert seen["broken"] == 1
    assert seen["failed"] and all(MISSING_PACKAGE in u for u in seen["failed"]), seen["failed"]
    assert any(u.startswith(f"{vendored}/npm/{MISSING_PACKAGE}@") for u in seen["failed"]), seen["failed"]


def test_chapter_widgets_render_offline(built_book, browser):
    pages = widget_pages(built_book)
    if not pages:
        pytest.skip("no chapter saves widget state (book/*.ipynb); the fixture book checks the widget JavaScript")
    for page in pages:
        name = page.relative_to(built_book)
        seen = open_offline(browser, page)
        assert seen["refused"] == [], f"{name}: requests that would have left the machine"
        assert seen["failed"] == [], f"{name}: local files not found"
        assert all(e.startswith(KNOWN_PAGE_ERRORS) for e in seen["errors"]), f"{name}: {seen['errors']}"
        assert seen["rendered"] == seen["views"] > 0, f"{name}: {seen['rendered']} of {seen['views']} widgets shown"
        assert seen["broken"] == 0, f"{name}: a widget failed to load"
