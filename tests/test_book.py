"""Tests for the book: chapters are committed executed and clean, the table of contents is complete.

And the book builds with -W -n (fixture `built_book` in conftest.py).

nbval (run by the same `pytest` call, see pyproject.toml) re-executes every chapter and compares outputs; it
cannot notice a notebook that was never executed (a cell without an execution count is not compared), so the
checks here make sure there is something to compare. Each check is a function of a path that returns a list
of problems, tested below on small bad notebooks so we know it can fail.
"""

import re
from pathlib import Path

import nbformat
import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
BOOK = REPO / "book"
SETUP_CELLS = 3  # the seed and the thread count must be fixed within the first this-many code cells


def book_notebooks(book: Path = BOOK) -> list[Path]:
    """The chapter notebooks: book/*.ipynb (the glob does not descend into _build or .ipynb_checkpoints)."""
    return sorted(book.glob("*.ipynb"))


def code_cells(nb) -> list:
    """Code cells that have source (nbclient and nbval skip empty ones)."""
    return [c for c in nb.cells if c.cell_type == "code" and c.source.strip()]


def execution_problems(path: Path) -> list[str]:
    """Problems with how `path` was executed: unexecuted or out-of-order cells, errors, stderr output."""
    nb = nbformat.read(path, as_version=4)
    problems = []
    for expected, cell in enumerate(code_cells(nb), start=1):
        where = f"{path.name}, code cell {expected} ({cell.source.strip().splitlines()[0][:60]!r})"
        if cell.execution_count is None:
            problems.append(f"{where}: never executed; run `make notebooks`")
        elif cell.execution_count != expected:
            problems.append(
                f"{where}: execution_count {cell.execution_count}, expected {expected} (run top to bottom)"
            )
        for out in cell.get("outputs", []):
            if out.output_type == "error":
                problems.append(f"{where}: error output {out.get('ename')}: {out.get('evalue')}")
            elif out.output_type == "stream" and out.get("name") == "stderr":
                problems.append(f"{where}: stderr output {out.get('text', '')[:200]!r}")
    return problems


def setup_problems(path: Path, n_cells: int = SETUP_CELLS) -> list[str]:
    """Problems with a chapter's set-up: its first code cells must seed torch and fix its thread count."""
    cells = code_cells(nbformat.read(path, as_version=4))
    if not cells:
        return []
    head = "\n".join(c.source for c in cells[:n_cells])
    return [
        f"{path.name}: no `{call}(...)` in its first {n_cells} code cells"
        for call in ("torch.manual_seed", "torch.set_num_threads")
        if not re.search(re.escape(call) + r"\s*\(", head)
    ]


def toc_files(toc: dict) -> list[str]:
    """Every `file:` entry of a parsed _toc.yml, in order (root, parts, chapters, sections)."""
    files = []

    def walk(node):
        if isinstance(node, dict):
            for key in ("root", "file"):
                if key in node:
                    files.append(str(node[key]))
            for value in node.values():
                if isinstance(value, (list, dict)):
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(toc)
    return files


def toc_problems(root: Path) -> list[str]:
    """Problems between root/_toc.yml and root/book/*.ipynb: listed files missing, notebooks not listed."""
    toc = yaml.safe_load((root / "_toc.yml").read_text())
    problems = []
    if toc.get("format") != "jb-book":
        problems.append(f"_toc.yml: format is {toc.get('format')!r}, expected 'jb-book'")
    listed = set()
    for entry in toc_files(toc):
        stem = entry.removesuffix(Path(entry).suffix) if Path(entry).suffix in {".ipynb", ".md"} else entry
        listed.add(stem)
        if not any((root / (stem + ext)).is_file() for ext in (".ipynb", ".md")):
            problems.append(f"_toc.yml lists {entry!r}, but there is no {stem}.ipynb or {stem}.md")
    for nb in book_notebooks(root / "book"):
        stem = nb.relative_to(root).with_suffix("").as_posix()
        if stem not in listed:
            problems.append(f"{stem}.ipynb is not in _toc.yml")
    return problems


# -----------------------------------------------------------------------------
# the real book

NOTEBOOKS = book_notebooks()


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_executed_in_order_without_errors(path):
    problems = execution_problems(path)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_seeds_and_fixes_threads(path):
    problems = setup_problems(path)
    assert not problems, "\n".join(problems)


def test_toc_matches_book():
    problems = toc_problems(REPO)
    assert not problems, "\n".join(problems)


def test_book_builds(built_book):
    assert (built_book / "index.html").is_file()
    intro = built_book / "book" / "intro.html"
    assert intro.is_file()
    assert "CLIP in one page" in intro.read_text(encoding="utf-8")
    for nb in NOTEBOOKS:
        assert (built_book / "book" / (nb.stem + ".html")).is_file(), f"{nb.name} has no page in the build"


# -----------------------------------------------------------------------------
# the checks can fail


def write_notebook(path: Path, cells: list[tuple[str, int | None, list]]) -> Path:
    """Write a notebook of code cells given as (source, execution_count, outputs)."""
    nb = nbformat.v4.new_notebook()
    for source, count, outputs in cells:
        nb.cells.append(nbformat.v4.new_code_cell(source, execution_count=count, outputs=outputs))
    nb.cells.insert(0, nbformat.v4.new_markdown_cell("# A chapter"))
    nbformat.write(nb, path)
    return path


SETUP = "import torch\ntorch.manual_seed(0)\ntorch.set_num_threads(1)"


def test_good_notebook_passes(tmp_path):
    out = nbformat.v4.new_output("stream", name="stdout", text="3\n")
    path = write_notebook(
        tmp_path / "good.ipynb", [(SETUP, 1, []), ("", None, []), ("print(1 + 2)", 2, [out])]
    )
    problems = execution_problems(path)
    assert not problems, "\n".join(problems)
    problems = setup_problems(path)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(
    "cells, expected",
    [
        ([(SETUP, 1, []), ("x = 1", None, [])], "never executed"),
        ([(SETUP, None, []), ("x = 1", None, [])], "never executed"),
        ([(SETUP, 2, []), ("x = 1", 1, [])], "execution_count 2, expected 1"),
        ([(SETUP, 1, []), ("x = 1", 3, [])], "execution_count 3, expected 2"),
        (
            [(SETUP, 1, [nbformat.v4.new_output("error", ename="ValueError", evalue="bad", traceback=[])])],
            "error output ValueError",
        ),
        ([(SETUP, 1, [nbformat.v4.new_output("stream", name="stderr", text="Warning!\n")])], "stderr output"),
    ],
)
def test_bad_execution_is_rejected(tmp_path, cells, expected):
    problems = execution_problems(write_notebook(tmp_path / "bad.ipynb", cells))
    assert any(expected in p for p in problems), problems


def test_missing_setup_is_rejected(tmp_path):
    cells = [("import torch", 1, []), ("x = 1", 2, []), ("y = 2", 3, []), ("torch.manual_seed(0)", 4, [])]
    problems = setup_problems(write_notebook(tmp_path / "unseeded.ipynb", cells))
    assert len(problems) == 2 and "torch.manual_seed" in problems[0] and "set_num_threads" in problems[1]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("Only prose.")])
    nbformat.write(nb, tmp_path / "prose.ipynb")
    assert setup_problems(tmp_path / "prose.ipynb") == []  # nothing to seed


def test_toc_mismatch_is_rejected(tmp_path):
    (tmp_path / "book").mkdir()
    (tmp_path / "book" / "intro.md").write_text("# Intro\n")
    write_notebook(tmp_path / "book" / "01_listed.ipynb", [(SETUP, 1, [])])
    write_notebook(tmp_path / "book" / "02_unlisted.ipynb", [(SETUP, 1, [])])
    toc = {
        "format": "jb-book",
        "root": "book/intro",
        "parts": [
            {"caption": "Foundations", "chapters": [{"file": "book/01_listed"}, {"file": "book/03_gone"}]}
        ],
    }
    (tmp_path / "_toc.yml").write_text(yaml.safe_dump(toc))
    problems = toc_problems(tmp_path)
    assert len(problems) == 2, problems
    assert "book/03_gone" in problems[0] and "book/02_unlisted.ipynb is not in _toc.yml" in problems[1]
