"""What torch.compile would buy the shipped scenes recipe on a CPU: a step's time, and the compile's own.

Run from the repository root:  make bench-compile   (or  .venv/bin/python benchmarks/bench_compile.py)

minclip.train runs eagerly on a CPU. This compiles the two towers of the language-first recipe's model (the
image tower for its one input shape, the text transformer for any caption length: dynamic=True) and runs the
recipe's step of benchmarks/bench_scenes_step.py (128 scenes of its stream from the committed sample, CLIP's
loss and the word-order term on every second step, bf16 autocast where the CPU has it, AdamW), in two fresh
processes under tcmalloc where it is installed, as the training commands run (minclip.allocator), that share an
empty inductor cache (TORCHINDUCTOR_CACHE_DIR): the first compiles from nothing, as a user's first run would;
the second finds the first one's kernels. Each process times its first ten compiled steps (the compile inside
them), then alternates blocks of eager and compiled steps and prints the medians; the ratio is eager over
compiled (above 1: compiled is faster), and the last lines say what each would make of the recipe's 1,900
steps. Compiled steps do not give the eager steps' numbers bit for bit, so every record would change: minclip
does not compile on a CPU.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FIRST = 10  # compiled steps timed with the compile inside them


def child(rounds: int, block: int) -> dict:
    """In a fresh process: the compile's seconds, and median eager and compiled steps (ms)."""
    import torch
    from bench_scenes_step import RecipeStep  # this folder is the script's, first on sys.path

    from minclip.allocator import allocator_name

    torch.set_num_threads(2)
    torch.set_flush_denormal(True)  # as minclip.train does on a CPU
    step = RecipeStep(3 + FIRST + 2 * rounds * block)
    model = step.model
    eager = model.visual, model.transformer
    compiled = torch.compile(model.visual, dynamic=False), torch.compile(model.transformer, dynamic=True)

    def run(first: int, count: int, towers) -> float:
        model.visual, model.transformer = towers
        start = time.perf_counter()
        for s in range(first, first + count):
            step.run(s)
        return time.perf_counter() - start

    run(0, 3, eager)  # warm
    first = run(3, FIRST, compiled)
    times = {"eager": [], "compiled": []}
    s = 3 + FIRST
    for _ in range(rounds):
        for name, towers in (("eager", eager), ("compiled", compiled)):
            times[name].append(1000 * run(s, block, towers) / block)
            s += block
    eager_ms, compiled_ms = (statistics.median(times[name]) for name in ("eager", "compiled"))
    return {"compile_s": first - FIRST * compiled_ms / 1000, "eager_ms": eager_ms,
            "compiled_ms": compiled_ms, "allocator": allocator_name(), "bf16": step.amp}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="pairs of blocks, eager then compiled (default 3)")
    parser.add_argument("--block", type=int, default=20, help="steps a block (default 20)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.rounds, args.block)))
        return
    sys.path.insert(0, str(REPO))
    from minclip.allocator import SWITCH, find_tcmalloc
    from minclip.recipes import RECIPES

    steps = RECIPES["language-first"].max_steps
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "TORCHINDUCTOR_CACHE_DIR": cache}
        tcmalloc = find_tcmalloc() if os.environ.get(SWITCH) != "0" else None
        if tcmalloc:  # as the training commands run (minclip.allocator)
            env["LD_PRELOAD"] = tcmalloc
        runs = {}
        for name in ("cold cache", "warm cache"):
            out = subprocess.run([sys.executable, __file__, "--child", "--rounds", str(args.rounds), "--block",
                                  str(args.block)], env=env, cwd=REPO, capture_output=True, text=True, check=True)
            runs[name] = json.loads(out.stdout.strip().splitlines()[-1])
    first = runs["cold cache"]
    print(f"a step of the language-first recipe, 2 threads, bf16 autocast: {first['bf16']}, {first['allocator']}")
    for name, r in runs.items():
        print(f"{name}: compile {r['compile_s']:5.1f} s; a step eager {r['eager_ms']:.1f} ms, compiled "
              f"{r['compiled_ms']:.1f} ms, ratio {r['eager_ms'] / r['compiled_ms']:.2f}x")
    eager_ms = statistics.mean(r["eager_ms"] for r in runs.values())
    compiled_ms = statistics.mean(r["compiled_ms"] for r in runs.values())
    print(f"{steps:,} steps: eager {eager_ms * steps / 1000:.0f} s; compiled "
          f"{compiled_ms * steps / 1000 + first['compile_s']:.0f} s from a cold cache (ratio "
          f"{eager_ms * steps / (compiled_ms * steps + 1000 * first['compile_s']):.2f}x), "
          f"{compiled_ms * steps / 1000 + runs['warm cache']['compile_s']:.0f} s from a warm one (ratio "
          f"{eager_ms * steps / (compiled_ms * steps + 1000 * runs['warm cache']['compile_s']):.2f}x)")


if __name__ == "__main__":
    main()
