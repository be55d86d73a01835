"""How well models name a user's own pictures of clothes (minclip.user_pictures): item, colour and the whole
phrase ("a red sneaker"), each top-1 with the app's class lists and the paper's prompt, over Fashion-MNIST test
items drawn in eight colours that are not Fashion Scenes' own, on an off-white ground, through JPEG.

The app's tests ask this of the committed sample (twelve red sneakers, 500 pictures of held-out pairs); this asks
it of thousands, so that recipes can be compared on it, and records each model's figures on the app's checks too
(`app_checks`, minclip.user_pictures.sample_checks: which of them a run fails moves from run to run, data/README.md).

    .venv/bin/python scripts/measure_user_pictures.py         # the shipped models: data/user-pictures.json
    .venv/bin/python scripts/measure_user_pictures.py --model NAME=PATH ... --record PATH    # other checkpoints
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
from minclip.user_pictures import USER_COLOURS, name_user_pictures, sample_checks  # noqa: E402
from scripts.records import git_commit, machine_name, write_record  # noqa: E402

SHIPPED = ("fashion-scenes-cpu", "fashion-mnist-cpu")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", default=[], metavar="NAME=PATH",
                        help="a checkpoint to measure besides the shipped models (repeatable)")
    parser.add_argument("--items", type=int, default=1000, help="test items drawn in each colour (the first N)")
    parser.add_argument("--record", default=str(REPO / "data" / "user-pictures.json"))
    args = parser.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(2)
    images, labels = (torch.as_tensor(a) for a in load_fashion_mnist("test"))
    images, labels = images[:args.items], labels[:args.items].long()
    models = [(name, name) for name in SHIPPED] + [tuple(m.split("=", 1)) for m in args.model]
    rows = []
    for name, path in models:
        started = time.perf_counter()
        model = demo.load_model(path)
        row = {"model": name, **name_user_pictures(model, images, labels), "app_checks": sample_checks(model)}
        rows.append(row)
        held, checks, seconds = row["heldout_pairs"], row["app_checks"], time.perf_counter() - started
        print(f"{name:34s} item {row['item']:.3f} colour {row['colour']:.3f} phrase {row['phrase']:.3f} | held-out "
              f"pairs {held['item']:.3f} {held['colour']:.3f} {held['phrase']:.3f} | app: red sneakers "
              f"{'/'.join(map(str, checks['red_sneakers'].values()))} of 12, held-out pairs "
              f"{'/'.join(f'{v:.3f}' for v in checks['heldout_pairs'].values())} ({seconds:.0f} s)", flush=True)
    write_record(args.record, {
        "command": " ".join(["python scripts/measure_user_pictures.py", *sys.argv[1:]]),
        "git_commit": git_commit(), "date": time.strftime("%Y-%m-%d"), "cpu": machine_name("cpu"),
        "settings": {"items": f"the first {args.items} Fashion-MNIST test images, each drawn in every colour",
                     "colours": USER_COLOURS, "picture": "minclip.user_pictures.user_picture",
                     "chance": {"item": 0.1, "colour": 1 / 11, "phrase": 1 / 110}},
        "models": rows})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
