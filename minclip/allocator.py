"""Training on a CPU under tcmalloc: the same weights, sooner.

A training step on a CPU allocates and frees thousands of small tensors (activations, their bf16 copies under
autocast, gradients). Google's tcmalloc (gperftools) keeps per-thread caches of freed blocks and hands them out
again at once, sooner than glibc's malloc does. PyTorch's CPU performance tuning guide recommends it, as Intel's
does (https://pytorch.org/tutorials/recipes/recipes/tuning_guide.html, "Switch Memory allocator"). An allocator
decides where numbers live, never what they are: a run under tcmalloc writes the same weights, bit for bit
(tests/test_allocator.py, and the shipped fashion-scenes-cpu retrained both ways, data/README.md). On the 2-core
Intel Xeon a step of the scenes recipe is 1.14 times as fast (`make bench-allocator`, the README's figures).

A running process cannot change its allocator, so `use_tcmalloc` starts the command again with the library in
LD_PRELOAD, where one is installed (Debian and Ubuntu: `apt-get install libtcmalloc-minimal4`; conda:
`conda install -c conda-forge gperftools`). It is called by the training commands (`python -m minclip.train`,
scripts/train_shipped_model.py) before they do anything, never at import. MINCLIP_TCMALLOC=0 turns it off.
"""

from __future__ import annotations

import ctypes.util
import os
import sys
from pathlib import Path

SWITCH = "MINCLIP_TCMALLOC"  # "0": keep the C library's malloc
_NAMES = ("tcmalloc_minimal", "tcmalloc")  # gperftools' two builds: without and with its heap profiler


def find_tcmalloc() -> str | None:
    """The path (or, from the loader's cache, the file name) of an installed tcmalloc, else None: the Python
    environment's lib folder first (conda's gperftools), then the system's libraries."""
    own = [path for name in _NAMES for path in sorted(Path(sys.prefix, "lib").glob(f"lib{name}.so*"))]
    if own:
        return str(own[0])
    return next(filter(None, map(ctypes.util.find_library, _NAMES)), None)


def tcmalloc_loaded() -> bool:
    """Whether this process runs under tcmalloc (Linux: its memory map names the library)."""
    try:
        return "tcmalloc" in Path("/proc/self/maps").read_text()
    except OSError:
        return False


def use_tcmalloc(argv: list[str] | None = None) -> None:
    """Start this command again under tcmalloc, if it is installed, not off (MINCLIP_TCMALLOC=0), not loaded
    already and not tried once (the environment marks a restart); else return and let it run as it is. Linux
    only. `argv`: the command line to run again (default: this one, as the interpreter was given it)."""
    if not sys.platform.startswith("linux") or os.environ.get(SWITCH) == "0" or tcmalloc_loaded():
        return
    library = find_tcmalloc()
    if library is None:
        return
    env = dict(os.environ)
    env[SWITCH] = "0"  # the restart does not try again, whatever happens
    env["LD_PRELOAD"] = " ".join(filter(None, (library, env.get("LD_PRELOAD"))))
    # tcmalloc prints a line for each allocation above 1 GiB unless told otherwise; the weights never are
    env.setdefault("TCMALLOC_LARGE_ALLOC_REPORT_THRESHOLD", str(1 << 40))
    argv = argv if argv is not None else [sys.executable, *sys.orig_argv[1:]]
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(argv[0], argv, env)


def allocator_name() -> str:
    """What serves this process's memory, for a training record: "tcmalloc" or "the C library's malloc"."""
    return "tcmalloc" if tcmalloc_loaded() else "the C library's malloc"
