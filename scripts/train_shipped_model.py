"""Train the model minclip ships (minclip/assets/models/fashion-mnist-cpu.safetensors) and record how it was made.

Run from the repository root on a quiet machine (it needs the full Fashion-MNIST: `make data`):

    .venv/bin/python scripts/train_shipped_model.py

It trains the `cpu` preset on the 60,000 training images with the book's settings, evaluates zero-shot top-1
and top-5 on the 10,000 test images with the prompt templates that training never used, stores the weights
in float16 (half the size; the figures below are measured on the stored weights), and writes a JSON file next
to them with the command, the settings, the timings, the figures, and the machine.
"""

import argparse
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from minclip import datasets  # noqa: E402
from minclip.captions import CLASSNAMES, EVAL_TEMPLATES  # noqa: E402
from minclip.load import load, save_checkpoint  # noqa: E402
from minclip.model import CLIP, CLIPConfig  # noqa: E402
from minclip.resources import asset  # noqa: E402
from minclip.train import TrainConfig, machine_name, new_model, train  # noqa: E402
from minclip.zeroshot import zero_shot_classifier, zero_shot_eval  # noqa: E402

SHIPPED = asset("models/fashion-mnist-cpu.safetensors")
CONFIG = TrainConfig.cpu(device="cpu")


def evaluate(model, resolution: int) -> dict:
    test = datasets.FashionMNISTPairs("test", resolution=resolution)
    loader = torch.utils.data.DataLoader(test, batch_size=256, collate_fn=datasets.collate)
    return zero_shot_eval(model, loader, zero_shot_classifier(model, CLASSNAMES, EVAL_TEMPLATES))


def evaluate_only(out: Path) -> int:
    """Zero-shot figures of the weights in `out` (float16 as stored), written into the record beside it."""
    shipped, _ = load(out, device="cpu")
    metrics = evaluate(shipped, shipped.config.image_resolution)
    record_path = out.with_suffix(".json")
    record = json.loads(record_path.read_text()) if record_path.exists() else {"name": out.stem}
    record["zero_shot_test"] = {**metrics, "templates": list(EVAL_TEMPLATES), "classnames": list(CLASSNAMES),
                                "weights": "float16 as stored", "measured": time.strftime("%Y-%m-%d"),
                                "command": "python scripts/train_shipped_model.py --evaluate-only "
                                           f"--out minclip/assets/models/{out.name}"}
    record_path.write_text(json.dumps(record, indent=1) + "\n")
    print(json.dumps(metrics))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(SHIPPED))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--evaluate-only", action="store_true",
                        help="re-measure the stored weights with today's EVAL_TEMPLATES; update the JSON record")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    if args.evaluate_only:
        return evaluate_only(out)
    started = time.perf_counter()
    model = new_model(CLIPConfig.cpu(), CONFIG.seed)
    train_set = datasets.FashionMNISTPairs("train", resolution=model.config.image_resolution, seed=CONFIG.seed)
    history = train(model, train_set, CONFIG, REPO / "runs" / "fashion-mnist-cpu")
    train_seconds = time.perf_counter() - started

    out.parent.mkdir(parents=True, exist_ok=True)
    half = CLIP(model.config, tokenizer=model.tokenizer)
    half.load_state_dict(model.state_dict())
    save_checkpoint(half.half(), out, metadata={"name": "fashion-mnist-cpu"})
    shipped, _ = load(out, device="cpu")  # the stored float16 weights, back in float32
    metrics = evaluate(shipped, shipped.config.image_resolution)
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip()
    record = {
        "name": "fashion-mnist-cpu",
        "command": "python scripts/train_shipped_model.py",
        "git_commit": commit,
        "model_config": model.config.to_dict(),
        "train_config": CONFIG.to_dict(),
        "tokenizer": "BPETokenizer.train(minclip/assets/captions.txt, vocab_size=2048)",
        "training_data": "Fashion-MNIST train split (60,000 images), captions from minclip.captions",
        "train_seconds": round(train_seconds, 1),
        "history": history,
        "zero_shot_test": {**metrics, "templates": list(EVAL_TEMPLATES), "classnames": list(CLASSNAMES),
                           "weights": "float16 as stored"},
        "machine": {"cpu": machine_name("cpu"), "threads": args.threads,
                    "torch": torch.__version__, "python": platform.python_version()},
        "date": time.strftime("%Y-%m-%d"),
    }
    out.with_suffix(".json").write_text(json.dumps(record, indent=1) + "\n")
    print(json.dumps({"train_seconds": record["train_seconds"], **metrics}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
