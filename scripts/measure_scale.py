"""Zero-shot accuracy against training compute, for three widths of the scenes model.

Radford et al. 2021, figure 9: over 44x of compute, five ResNet CLIP models' zero-shot error falls smoothly, as a
log-log linear trend in compute. Here the same question at laptop scale: the scenes model's configuration
(`CLIPConfig.cpu(image_resolution=64)`) at half, one and two times its widths (image encoder width, text width,
embedding size and heads together), each trained on Fashion Scenes with the plain recipe's settings (CLIP's loss
on the plain stream) for `--steps` steps, evaluated zero-shot at every `--every` steps (Fashion-MNIST in its own
class names on 2,000 test images, and the suite's tasks on 300 scenes each). Compute is counted, not timed: the
floating-point operations of one training step (forward and backward, torch.utils.flop_counter) times the steps
taken; seconds are recorded too, for this machine.

    .venv/bin/python scripts/measure_scale.py        # writes data/scale.json (needs `make data`; ~13 minutes)
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from minclip.datasets import collate  # noqa: E402
from minclip.loss import clip_loss  # noqa: E402
from minclip.model import CLIPConfig  # noqa: E402
from minclip.scenes import FashionScenes, SceneConfig  # noqa: E402
from minclip.tasks import evaluate_suite  # noqa: E402
from minclip.train import TrainConfig, new_model, train  # noqa: E402
from scripts.records import finish_record, test_split_suite  # noqa: E402

WIDTHS = (0.5, 1.0, 2.0)


def config_at(width: float) -> CLIPConfig:
    """The scenes model's configuration with every width multiplied by `width` (heads keep 64 channels each)."""
    base = CLIPConfig.cpu(image_resolution=64)
    text = int(base.transformer_width * width)
    return CLIPConfig.cpu(image_resolution=64, embed_dim=int(base.embed_dim * width),
                          vision_width=int(base.vision_width * width), transformer_width=text,
                          transformer_heads=max(1, text // 64))


def step_flops(model, batch) -> int:
    """Floating-point operations of one training step on `batch`: forward, loss and backward."""
    images, captions = batch[0], batch[1]
    tokens = model.tokenize(captions, truncate=True)
    with FlopCounterMode(display=False) as counter:
        loss = clip_loss(model.encode_image(images), model.encode_text(tokens), model.logit_scale.exp())
        loss.backward()
    model.zero_grad(set_to_none=True)
    return counter.get_total_flops()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(REPO / "data" / "scale.json"))
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--every", type=int, default=100)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    if args.steps % args.every:
        parser.error("--steps must be a multiple of --every")
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    tasks = test_split_suite(n=300, fashion_mnist_images=2000)
    train_config = TrainConfig.cpu(device="cpu", epochs=args.steps // args.every)
    runs = []
    for width in WIDTHS:
        config = config_at(width)
        model = new_model(config, seed=0)
        data = FashionScenes("train", n=args.every * train_config.batch_size, config=SceneConfig(resolution=64))
        flops = step_flops(model, collate([data[i] for i in range(train_config.batch_size)]))
        points, clock = [], time.perf_counter()

        def evaluate(m, points=points, clock=clock):
            rows = evaluate_suite(m, tasks)
            points.append({"seconds": round(time.perf_counter() - clock, 1),
                           **{r["task"]: round(r["top1"], 4) for r in rows}})
            return {}

        history = train(model, data, train_config, None, evaluate=evaluate, progress=False)
        for point, h in zip(points, history):
            point["step"] = h["step"]
            point["train_flops"] = flops * h["step"]
        runs.append({"width": width, "config": config.to_dict(),
                     "parameters": sum(p.numel() for p in model.parameters()),
                     "flops_per_step": flops, "points": points})
        last = points[-1]
        print(f"width x{width}: {runs[-1]['parameters']:,} parameters, {flops / 1e9:.1f} GFLOP a step, "
              f"fashion-mnist {100 * last['fashion-mnist']:.1f}%, colour {100 * last['colour']:.1f}%, "
              f"{last['seconds']:.0f} s", flush=True)
    record = {
        "settings": {"widths": list(WIDTHS), "steps": args.steps, "every": args.every,
                     "train_config": train_config.to_dict(), "evaluation": "build_tasks(Fashion-MNIST test, n=300, "
                     "seed 0); fashion-mnist on 2,000 test images (torch.randperm seed 0)",
                     "seconds_include": "training and the evaluations between epochs"},
        "runs": runs,
    }
    finish_record(args.out, "measure_scale.py", record, started, args.threads)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
