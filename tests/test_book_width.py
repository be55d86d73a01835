"""The built book's code and outputs fit the text column: almost nothing scrolls sideways.

A reader at a 1300-pixel window should read every code cell and output without a horizontal scroll bar. The
book's part is `_static/minclip.css` (narrower sidebars, a 0.8rem code font, outputs that wrap as in Jupyter)
and code cells written to about 96 characters; long package listings sit behind a toggle (`hide-output`).

The check opens every built page from disk in headless Chromium (Debian's /usr/bin/chromium driven by Playwright,
never `playwright install`), opens every toggle, and counts the blocks (code `<pre>`, output `<pre>`, HTML
outputs such as tables) whose content is wider than the box that shows it. A few tables may scroll: at most
MAX_SCROLLING of the blocks. A small fixture book with one line that is far too long shows the count can fail.
"""

import shutil
from pathlib import Path

import nbformat
import pytest

from tests.conftest import REPO, build_book

WINDOW = {"width": 1300, "height": 900}
MAX_SCROLLING = 0.02  # share of the book's code and output blocks allowed to scroll sideways (wide tables)

# Every toggle opened first (a hidden block scrolls as soon as the reader opens it); then each block reports
# whether its content (scrollWidth) is wider than its box (clientWidth).
MEASURE = """() => {
  for (const d of document.querySelectorAll('details')) d.open = true;
  const blocks = document.querySelectorAll(
    'article pre, article div.cell_output div.output.text_html');
  return Array.from(blocks, b => ({
    scrolls: b.scrollWidth > b.clientWidth + 1,
    wide: b.scrollWidth, shown: b.clientWidth,
    line: (b.innerText || '').split('\\n').reduce((a, l) => (l.length > a.length ? l : a), '').slice(0, 120),
  }));
}"""


def measure(browser, pages: list[Path]) -> dict[str, list[dict]]:
    """Each page's blocks as MEASURE reports them, opened from disk at a WINDOW-sized viewport."""
    page = browser.new_page(viewport=WINDOW)
    try:
        found = {}
        for path in pages:
            page.goto(path.as_uri())
            found[path.name] = page.evaluate(MEASURE)
        return found
    finally:
        page.close()


def scrolling_report(found: dict[str, list[dict]]) -> tuple[int, int, list[str]]:
    """(blocks, blocks that scroll, one line per scrolling block naming its page and its longest line)."""
    total = sum(len(blocks) for blocks in found.values())
    lines = [
        f"{name}: {b['wide']} px in {b['shown']} px: {b['line']!r}"
        for name, blocks in found.items()
        for b in blocks
        if b["scrolls"]
    ]
    return total, len(lines), lines


def chapter_pages(html_root: Path) -> list[Path]:
    return sorted((html_root / "book").glob("*.html"))



@pytest.fixture(scope="module")
def wide_line_book(tmp_path_factory) -> Path:
    """A book with the real _config.yml and _static/: one chapter of a short cell and a 200-character one."""
    root = tmp_path_factory.mktemp("width-book") / "src"
    (root / "book").mkdir(parents=True)
    shutil.copy(REPO / "_config.yml", root / "_config.yml")
    for folder in ("_vendor", "_static"):
        shutil.copytree(REPO / folder, root / folder)
    (root / "_toc.yml").write_text("format: jb-book\nroot: book/intro\nchapters:\n  - file: book/wide\n")
    (root / "book" / "intro.md").write_text("# Intro\n\nNo code here.\n")
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells.append(nbformat.v4.new_markdown_cell("# Wide"))
    for count, source in enumerate(["x = 1", "y = [" + ", ".join(["123456"] * 28) + "]"], start=1):
        nb.cells.append(nbformat.v4.new_code_cell(source, execution_count=count))
    nbformat.write(nb, root / "book" / "wide.ipynb")
    return build_book(root, root.parent / "out")


def test_the_count_finds_a_line_that_is_too_long(wide_line_book, browser):
    total, scrolling, lines = scrolling_report(measure(browser, [wide_line_book / "book" / "wide.html"]))
    assert (total, scrolling) == (2, 1), lines
    assert "123456, 123456" in lines[0]


def test_the_stylesheet_is_on_every_page(built_book):
    for page in chapter_pages(built_book):
        assert "minclip.css" in page.read_text(encoding="utf-8"), f"{page.name} does not load _static/minclip.css"


def test_code_and_outputs_fit_the_column(built_book, browser):
    total, scrolling, lines = scrolling_report(measure(browser, chapter_pages(built_book)))
    assert total > 100, f"only {total} code and output blocks found: did the page structure change?"
    assert scrolling <= MAX_SCROLLING * total, (
        f"{scrolling} of {total} code and output blocks scroll sideways at {WINDOW['width']} px "
        f"(at most {MAX_SCROLLING:.0%} may); shorten these lines:\n" + "\n".join(lines)
    )
