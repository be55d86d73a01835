"""How much sooner a step of the shipped scenes recipe runs under tcmalloc than under the C library's malloc.

Run from the repository root:  make bench-allocator   (or  .venv/bin/python benchmarks/bench_allocator.py)

The training commands start again under tcmalloc where it is installed (minclip.allocator); this measures what
that buys. Each round runs benchmarks/bench_scenes_step.py (the language-first recipe's step, timed part by part)
twice, in fresh processes, once with tcmalloc in LD_PRELOAD and once without, in alternating order; it prints
each round's median step and, last, the ratio of the medians over the rounds (above 1: tcmalloc is faster).
A busy or throttled machine moves both sides alike within a round, so rounds are the unit to compare.
"""

import argparse
import os
import re
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from minclip.allocator import SWITCH, find_tcmalloc  # noqa: E402


def step_ms(tcmalloc: str | None, steps: int) -> float:
    """The median step (ms) of bench_scenes_step.py in a fresh process, with `tcmalloc` preloaded or not."""
    env = {**os.environ, SWITCH: "0"}
    env.pop("LD_PRELOAD", None)
    if tcmalloc:
        env["LD_PRELOAD"] = tcmalloc
    out = subprocess.run([sys.executable, str(REPO / "benchmarks" / "bench_scenes_step.py"), "--steps", str(steps)],
                         env=env, cwd=REPO, capture_output=True, text=True, check=True).stdout
    return float(re.search(r"^  step\s+([\d.]+) ms", out, re.M).group(1))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="pairs of runs (default 3)")
    parser.add_argument("--steps", type=int, default=30, help="timed steps a run (default 30)")
    args = parser.parse_args()
    library = find_tcmalloc()
    if library is None or not sys.platform.startswith("linux"):
        raise SystemExit("no tcmalloc here: on Debian or Ubuntu `apt-get install libtcmalloc-minimal4`, with conda "
                         "`conda install -c conda-forge gperftools` (Linux only)")
    times = {"malloc": [], "tcmalloc": []}
    for r in range(args.rounds):
        order = ("malloc", "tcmalloc") if r % 2 == 0 else ("tcmalloc", "malloc")
        for name in order:
            times[name].append(step_ms(library if name == "tcmalloc" else None, args.steps))
        print(f"round {r + 1}: C library's malloc {times['malloc'][-1]:.1f} ms, tcmalloc {times['tcmalloc'][-1]:.1f} "
              "ms a step", flush=True)
    malloc, tc = (statistics.median(times[name]) for name in ("malloc", "tcmalloc"))
    print(f"a step of the language-first recipe ({library}): C library's malloc {malloc:.1f} ms, tcmalloc "
          f"{tc:.1f} ms, ratio {malloc / tc:.2f}x")


if __name__ == "__main__":
    main()
