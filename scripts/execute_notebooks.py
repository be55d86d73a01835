"""Execute the book's notebooks in place, top to bottom, in a fresh kernel each: `make notebooks`.

Usage: python scripts/execute_notebooks.py [NOTEBOOK ...]   (default: every book/*.ipynb, in name order)

Each notebook runs with nbclient in the `python3` kernel of the interpreter running this script, with the
notebook's folder as working directory. Outputs and widget state are stored; execution timestamps are not
(record_timing=False), so re-running an unchanged, seeded chapter changes only what really changed. On a cell
error the script prints the error, leaves that notebook file untouched and exits with status 1.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

REPO = Path(__file__).resolve().parents[1]
BOOK = REPO / "book"


def default_notebooks() -> list[Path]:
    """Every chapter notebook: book/*.ipynb, sorted by name (01_..., 02_..., ...)."""
    return sorted(BOOK.glob("*.ipynb"))


def execute_notebook(path: Path, timeout: int = 1800) -> None:
    """Run one notebook from a clean state and write it back; raises CellExecutionError on a cell error."""
    nb = nbformat.read(path, as_version=4)
    # start clean: nbclient skips empty code cells, which would otherwise keep stale counts and outputs
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
            cell.metadata.pop("execution", None)
    nb.metadata.pop("widgets", None)
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
        record_timing=False,
        store_widget_state=True,
    )
    client.execute()
    nbformat.validate(nb)
    nbformat.write(nb, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "notebooks", nargs="*", type=Path, help="notebooks to execute (default: book/*.ipynb)"
    )
    parser.add_argument("--timeout", type=int, default=1800, help="seconds allowed per cell (default 1800)")
    args = parser.parse_args(argv)
    notebooks = args.notebooks or default_notebooks()
    if not notebooks:
        print(f"no notebooks in {BOOK}", file=sys.stderr)
        return 0
    for path in notebooks:
        if not path.is_file():
            print(f"error: no such notebook: {path}", file=sys.stderr)
            return 1
        start = time.perf_counter()
        print(f"executing {path} ...", flush=True)
        try:
            execute_notebook(path.resolve(), timeout=args.timeout)
        except CellExecutionError as err:
            print(
                f"\nFAILED: {path}: a cell raised an error; the file was left unchanged.\n{err}",
                file=sys.stderr,
            )
            return 1
        print(f"  done in {time.perf_counter() - start:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
