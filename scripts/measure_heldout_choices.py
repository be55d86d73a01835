"""Why a model misses the held-out colour x item pairs: what it answers instead (minclip.tasks.combo_choices).

The task suite's "held-out combos" asks for the one phrase of 110 ("a blue bag") that names a picture of a pair
no training image or caption showed. This script asks, of the same 1,000 test pictures as the shipped records'
suite, how often the answer has the right colour, the right item, is a held-out phrase at all, and how often the
right phrase wins among the six held-out phrases alone. Run from the repository root (about 20 s a model):

    .venv/bin/python scripts/measure_heldout_choices.py --model NAME=PATH ...   # data/heldout-choices.json
"""

import argparse
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from minclip import demo  # noqa: E402
from minclip.data import load_fashion_mnist  # noqa: E402
from minclip.tasks import build_tasks, combo_choices  # noqa: E402
from scripts.records import git_commit, machine_name, write_record  # noqa: E402

TASK_IMAGES = 1000  # as scripts/train_shipped_model.py's suite: the same pictures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", default=[], metavar="NAME=PATH",
                        help="a checkpoint to measure besides the shipped scenes model (repeatable)")
    parser.add_argument("--record", default=str(REPO / "data" / "heldout-choices.json"))
    args = parser.parse_args()
    torch.set_num_threads(2)
    pool = tuple(torch.as_tensor(a) for a in load_fashion_mnist("test"))
    rows, suites = [], {}  # the suite's pictures, rendered once per input resolution
    for name, path in [("fashion-scenes-cpu", "fashion-scenes-cpu")] + [tuple(m.split("=", 1)) for m in args.model]:
        model = demo.load_model(path).clip
        resolution = model.config.image_resolution
        if resolution not in suites:
            suites[resolution] = {t.name: t for t in build_tasks(pool, n=TASK_IMAGES, resolution=resolution)}
        tasks = suites[resolution]
        for task in ("seen combos", "held-out combos"):
            row = {"model": name, **combo_choices(model, tasks[task])}
            rows.append({k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()})
            print(" ".join(f"{k} {v}" for k, v in rows[-1].items()), flush=True)
    write_record(args.record, {
        "command": " ".join(["python scripts/measure_heldout_choices.py", *sys.argv[1:]]),
        "git_commit": git_commit(), "date": time.strftime("%Y-%m-%d"), "cpu": machine_name("cpu"),
        "what": "minclip.tasks.combo_choices on the suite's seen and held-out colour x item tasks (1,000 pictures "
                "each, the shipped records' suite), in the suite's prompt frames", "rows": rows})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
