"""The bookkeeping of the scripts that measure: what each writes beside its figures, written one way.

A figure the book or the README quotes comes with a JSON record of how it was made: the command, the machine, the
commit. That is the scripts' business, not the package's (minclip trains and evaluates; it records nothing about
where it ran), so it lives here and every script imports it:

    sys.path.insert(0, str(REPO))  # run as `python scripts/X.py` from the repository root
    from scripts.records import git_commit, machine_name, percent, write_record
"""

from __future__ import annotations

import json
import platform
import subprocess
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]


def machine_name(device: torch.device | str = "cpu") -> str:
    """What a figure was measured on: the GPU's name on CUDA, else the CPU's model name."""
    if torch.device(device).type == "cuda":
        return torch.cuda.get_device_name(torch.device(device))
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def host_details(cpuinfo: Path = Path("/proc/cpuinfo"), cache: Path = Path("/sys/devices/system/cpu/cpu0/cache")
                 ) -> str | None:
    """Which CPU a timing ran on, beyond its model name: a virtual machine reports "Intel(R) Xeon(R) Processor"
    whatever its host, and timings move with it (the shipped scenes recipe: 548 to 727 s, the same weights), so
    records carry the CPU family, model and last-level cache too, e.g. "family 6 model 167, L3 480 MiB"; None
    where Linux does not say."""
    if not cpuinfo.exists():
        return None
    fields = dict(line.split(":", 1) for line in cpuinfo.read_text().split("\n\n")[0].splitlines() if ":" in line)
    fields = {key.strip(): value.strip() for key, value in fields.items()}
    details = ([f"family {fields['cpu family']} model {fields['model']}"]
               if "cpu family" in fields and "model" in fields else [])  # x86; an Arm CPU says neither
    levels = sorted(cache.glob("index*/level"), key=lambda level: int(level.read_text()))
    if levels:  # the highest level's size, "491520K" as the kernel writes it
        size = (levels[-1].parent / "size").read_text().strip()
        kib = int(size[:-1]) if size.endswith("K") and size[:-1].isdigit() else None
        size = f"{kib // 1024} MiB" if kib and kib % 1024 == 0 else size
        details.append(f"L{levels[-1].read_text().strip()} {size}")
    return ", ".join(details) or None


def git_commit() -> str | None:
    """The checkout's HEAD commit, with "-dirty" when tracked files differ from it (the code that ran is then not
    that commit's), or None outside a git checkout (or without git)."""
    try:
        done = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True)
        changed = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO,
                                 capture_output=True, text=True).stdout.strip()
    except OSError:
        return None
    commit = done.stdout.strip()
    return (commit + "-dirty" if changed else commit) or None


def percent(metrics: dict) -> dict:
    """Accuracies as the records store them: top-k fractions in percent, two decimals; other keys as they are."""
    return {k: round(100 * v, 2) if k.startswith("top") else v for k, v in metrics.items()}


def write_record(path: str | Path, record: dict) -> None:
    """Write a record as the committed ones are: JSON indented by one space, a final newline, folders made."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=1) + "\n")


def test_split_suite(n: int, fashion_mnist_images: int, resolution: int = 64) -> list:
    """The zero-shot suite the training experiments evaluate on: minclip.tasks.build_tasks over Fashion-MNIST's
    test split (seed 0), n scenes a task, and Fashion-MNIST on a fixed random subset (torch.randperm, seed 0)."""
    from minclip.data import load_fashion_mnist
    from minclip.tasks import build_tasks

    pool = tuple(torch.as_tensor(a) for a in load_fashion_mnist("test"))
    subset = torch.randperm(len(pool[1]), generator=torch.Generator().manual_seed(0))[:fashion_mnist_images]
    return build_tasks(pool, n=n, resolution=resolution, fashion_mnist=(pool[0][subset], pool[1][subset]))


def finish_record(path: str | Path, script: str, record: dict, started: float, threads: int) -> dict:
    """What every measuring script's record carries around its own figures: the command as run, the commit, the
    date, the seconds since `started` (time.perf_counter()) and the machine. Writes the record and says where."""
    record = {"command": " ".join([f"python scripts/{script}", *sys.argv[1:]]), "git_commit": git_commit(),
              "date": time.strftime("%Y-%m-%d"), **record, "seconds": round(time.perf_counter() - started, 1),
              "machine": {"cpu": machine_name("cpu"), "host": host_details(), "threads": threads,
                          "torch": torch.__version__}}
    write_record(path, record)
    print(f"wrote {path} in {record['seconds']:.0f} s")
    return record


PLAIN_MODEL = REPO / "runs" / "plain-recipe" / "model.safetensors"  # where train_shipped_model.py --recipe plain
# --record data/plain-recipe.json puts the plain recipe's weights (shipped as fashion-scenes-cpu until 2026-12-07)


def plain_model(path: str | Path = PLAIN_MODEL) -> Path:
    """The plain recipe's weights, which the binding studies start from; a sentence saying how to make them if the
    file is not there."""
    path = Path(path)
    if not path.is_file():
        raise SystemExit(f"no weights at {path}: the binding studies start from the plain recipe's model; train it "
                         "with `python scripts/train_shipped_model.py --recipe plain --record data/plain-recipe.json` "
                         "(about ten minutes), or give --model PATH")
    return path
