"""Measure chapter 6's GPU path on a CUDA card and write the record the book reads (data/models/gpu-figures.json).

Run from the repository root on a machine with one NVIDIA GPU and the full Fashion-MNIST (`make data`):

    python scripts/gpu_figures.py --out data/models/gpu-figures.json --models-dir minclip/assets/models

Stages, each timed with the GPU synchronised, each written to the JSON as soon as it ends (a stage that would
start after --budget seconds is skipped and marked so):
  1. recipe_cpu     the shipped model's schedule (TrainConfig.cpu(): 1 epoch of 128 pairs) on the GPU, bf16 autocast
  2. baseline_cpu   the supervised baseline of the same image encoder on the same schedule (minclip.baseline, as
                    scripts/train_baseline.py trains it)
  3. recipe_gpu     TrainConfig.gpu() (10 epochs of 256 pairs, 8 data workers), zero-shot after every epoch;
                    its float16 weights are saved as fashion-mnist-gpu.safetensors in --models-dir
  4. compile_cpu    stage 1 again with torch.compile
  5. throughput     training steps per second of the rn50 and vit_b_32 presets at batch 256 (random data)
  6. baseline_gpu   the supervised baseline on TrainConfig.gpu(), beside stage 3
Zero-shot figures use minclip.captions.EVAL_TEMPLATES on the 10,000 test images, as for the shipped model.
`--smoke` runs every stage for 2 steps on the CPU (512 test images) to check the script before a GPU is lent.
"""

import argparse
import json
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from minclip import datasets  # noqa: E402
from minclip.baseline import SupervisedBaseline, accuracy, train_supervised  # noqa: E402
from minclip.captions import CLASSNAMES, EVAL_TEMPLATES  # noqa: E402
from minclip.load import save_checkpoint  # noqa: E402
from minclip.loss import clip_loss  # noqa: E402
from minclip.model import CLIP, CLIPConfig  # noqa: E402
from minclip.resources import asset  # noqa: E402
from minclip.train import TrainConfig, new_model, param_groups, train  # noqa: E402
from minclip.zeroshot import zero_shot_classifier, zero_shot_eval  # noqa: E402
from scripts.records import git_commit, machine_name, percent, write_record  # noqa: E402

SMOKE = {"on": False}  # --smoke: CPU, 2 steps per stage, 512 test images


def device() -> str:
    return "cpu" if SMOKE["on"] else "cuda"


def synced() -> float:
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return time.perf_counter()


def test_loader(resolution: int):
    test = datasets.FashionMNISTPairs("test", resolution=resolution)
    test = torch.utils.data.Subset(test, range(512)) if SMOKE["on"] else test
    return torch.utils.data.DataLoader(test, batch_size=512, collate_fn=datasets.collate, num_workers=8)


def zero_shot(model: CLIP) -> dict:
    classifier = zero_shot_classifier(model, CLASSNAMES, EVAL_TEMPLATES)
    metrics = zero_shot_eval(model, test_loader(model.config.image_resolution), classifier, progress=False)
    return {"top1": round(100 * metrics["top1"], 2), "top5": round(100 * metrics["top5"], 2)}


def schedule(name: str, **overrides) -> TrainConfig:
    config = getattr(TrainConfig, name)(device=device(), **overrides)
    config.max_steps = 2 if SMOKE["on"] else config.max_steps
    return config


def train_clip(config: TrainConfig, out: Path, evaluate_each_epoch: bool = False) -> tuple[CLIP, dict]:
    model = new_model(CLIPConfig.cpu(), config.seed)
    train_set = datasets.FashionMNISTPairs("train", resolution=128, seed=config.seed)
    eval_seconds = [0.0]

    def evaluate(m):
        started = synced()
        figures = zero_shot(m)
        eval_seconds[0] += synced() - started
        return figures

    started = synced()
    history = train(model, train_set, config, out, evaluate=evaluate if evaluate_each_epoch else None,
                    progress=False)
    seconds = synced() - started - eval_seconds[0]
    return model, {"train_config": config.to_dict(), "train_seconds": round(seconds, 1),
                   "images_per_second": round(history[-1]["step"] * config.batch_size / seconds), "history": history,
                   "zero_shot": zero_shot(model)}


def throughput(preset: str, batch: int = 256, steps: int = 10) -> dict:
    batch, steps = (2, 1) if SMOKE["on"] else (batch, steps)
    config = getattr(CLIPConfig, preset)()
    torch.manual_seed(0)
    model = CLIP(config).to(device()).train()
    optimizer = torch.optim.AdamW(param_groups(model, 0.1), lr=1e-4)
    images = torch.randn(batch, 3, config.image_resolution, config.image_resolution, device=device())
    tokens = torch.randint(1, config.vocab_size - 1, (batch, config.context_length), device=device())
    tokens[:, 20] = config.vocab_size - 1  # the end-of-text token, the highest id
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    for i in range(steps + 3):
        if i == 3:
            started = synced()
        with torch.autocast(device(), dtype=torch.bfloat16, enabled=device() == "cuda"):
            loss = clip_loss(model.encode_image(images), model.encode_text(tokens), model.logit_scale.exp())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    seconds = (synced() - started) / steps
    peak = torch.cuda.max_memory_allocated() / 2**30 if torch.cuda.is_available() else float("nan")
    return {"batch": batch, "seconds_per_step": round(seconds, 4), "images_per_second": round(batch / seconds),
            "peak_memory_gib": round(peak, 2)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(REPO / "data" / "models" / "gpu-figures.json"))
    parser.add_argument("--models-dir", default=str(asset("models")))
    parser.add_argument("--runs", default=str(REPO / "runs" / "gpu"))
    parser.add_argument("--budget", type=float, default=420.0, help="seconds after which no stage starts")
    parser.add_argument("--smoke", action="store_true", help="2 steps per stage on the CPU, to check the script")
    parser.add_argument("--stages", nargs="*", help="run only these stages (default: all)")
    args = parser.parse_args()
    SMOKE["on"] = args.smoke
    if not torch.cuda.is_available() and not args.smoke:
        raise SystemExit("this script measures the GPU path: no CUDA device is visible")
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    began, runs = time.perf_counter(), Path(args.runs)
    record = {"command": "python scripts/gpu_figures.py", "git_commit": git_commit(),
              "machine": {"gpu": None if args.smoke else machine_name("cuda"), "cpu": machine_name("cpu"),
                          "torch": torch.__version__, "cuda": torch.version.cuda}, "stages": {}}

    def save():
        write_record(args.out, record)

    def recipe_gpu():
        model, figures = train_clip(schedule("gpu"), runs / "recipe_gpu", evaluate_each_epoch=True)
        half = CLIP(model.config, tokenizer=model.tokenizer)
        half.load_state_dict(model.state_dict())
        save_checkpoint(half.half(), Path(args.models_dir) / "fashion-mnist-gpu.safetensors",
                        metadata={"name": "fashion-mnist-gpu"})
        return figures

    def baseline(name: str):
        config = schedule(name, num_workers=8)
        torch.manual_seed(config.seed)
        model = SupervisedBaseline(CLIPConfig.cpu(), num_classes=10)
        train_set = datasets.FashionMNISTPairs("train", resolution=128, seed=config.seed)
        started = synced()
        history = train_supervised(model, train_set, config, progress=False)
        seconds = synced() - started
        return {"train_config": config.to_dict(), "train_seconds": round(seconds, 1), "history": history,
                "test": percent(accuracy(model, test_loader(128), progress=False))}

    stages = {
        "recipe_cpu": lambda: train_clip(schedule("cpu", num_workers=8), runs / "recipe_cpu")[1],
        "baseline_cpu": lambda: baseline("cpu"),
        "recipe_gpu": recipe_gpu,
        "compile_cpu": lambda: train_clip(schedule("cpu", num_workers=8, compile=not args.smoke),
                                          runs / "compile_cpu")[1],
        "throughput": lambda: {preset: throughput(preset) for preset in ("rn50", "vit_b_32")},
        "baseline_gpu": lambda: baseline("gpu"),
    }
    if Path(args.out).exists():  # a later run adds or replaces stages (--stages), keeping the others
        record["stages"] = json.loads(Path(args.out).read_text())["stages"]
    for name, stage in stages.items():
        if args.stages and name not in args.stages:
            continue
        if time.perf_counter() - began > args.budget:
            record["stages"][name] = {"skipped": f"the {args.budget:.0f} s budget was spent"}
        else:
            try:
                started = time.perf_counter()
                record["stages"][name] = stage()
                record["stages"][name]["stage_seconds"] = round(time.perf_counter() - started, 1)
            except Exception as error:  # record it and go on: one broken stage must not lose the others
                record["stages"][name] = {"error": f"{type(error).__name__}: {error}"}
        save()
        print(name, json.dumps({k: v for k, v in record["stages"][name].items() if k != "history"}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
