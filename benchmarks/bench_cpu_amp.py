"""CPU training benchmark: a training step of the scenes model in float32 and under bf16 autocast, same run.

Run from the repository root:  make bench-cpu-amp   (or  .venv/bin/python benchmarks/bench_cpu_amp.py)

The step is the shipped scenes model's, exactly as minclip.train runs it: the `cpu` preset at 64 pixels, a batch of
128 Fashion Scenes pairs rendered and captioned on the fly (from the committed test sample, so no download), the
contrastive loss, backward, gradient clipping and an AdamW update. `minclip.train.train` runs ``--steps`` steps
with `TrainConfig.cpu_amp` off, then on, from the same weights, for ``--rounds`` interleaved rounds so that both
see the same machine load; it prints the median seconds per step of each and the ratio (above 1: bf16 is faster).
It first checks that the two precisions give nearly the same loss on one batch. On a CPU without bf16
instructions (`minclip.train.cpu_has_bf16()` is False) `cpu_amp` changes nothing, and the output says so.
"""

import argparse
import statistics
import time

import torch

from minclip.datasets import collate
from minclip.loss import clip_loss
from minclip.model import CLIPConfig
from minclip.scenes import FashionScenes, SceneConfig
from minclip.train import TrainConfig, cpu_has_bf16, new_model, train


def seconds_per_step(model, data, steps: int, cpu_amp: bool) -> float:
    config = TrainConfig.cpu(max_steps=steps, warmup_steps=1, cpu_amp=cpu_amp, device="cpu", log_every=steps)
    start = time.perf_counter()
    train(model, data, config, None, progress=False)
    return (time.perf_counter() - start) / steps


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (default 2, as shipped)")
    parser.add_argument("--steps", type=int, default=10, help="steps per timed run (default 10)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved float32 / bf16 rounds (default 3)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    data = FashionScenes.sample("train", n=128 * args.steps, config=SceneConfig(resolution=64))
    model = new_model(CLIPConfig.cpu(image_resolution=64))
    weights = {name: value.clone() for name, value in model.state_dict().items()}  # each run starts from these

    images, captions, _ = collate([data[i] for i in range(128)])
    tokens = model.tokenize(captions, truncate=True)
    losses = {}
    with torch.no_grad():
        for name, on in (("float32", False), ("bf16", True)):
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=on):
                image_features, text_features = model.encode_image(images), model.encode_text(tokens)
                losses[name] = clip_loss(image_features, text_features, model.logit_scale.exp()).item()
    gap = abs(losses["bf16"] - losses["float32"]) / losses["float32"]
    print(f"one batch of 128, fresh weights: loss float32 {losses['float32']:.4f}, bf16 {losses['bf16']:.4f} "
          f"({100 * gap:.2f}% apart)")
    assert gap < 0.02, "bf16 and float32 disagree on the loss by more than 2%"

    times = {"float32": [], "bf16": []}
    for _ in range(args.rounds):
        for name, on in (("float32", False), ("bf16", True)):
            model.load_state_dict(weights)
            times[name].append(seconds_per_step(model, data, args.steps, on))
    f32, bf16 = statistics.median(times["float32"]), statistics.median(times["bf16"])
    print(f"CPU has bf16 instructions: {cpu_has_bf16()}; {args.threads} threads, batch 128, 64 px, "
          f"{args.rounds} x {args.steps} steps each")
    print(f"float32          {f32:.3f} s per step")
    print(f"bf16 (cpu_amp)   {bf16:.3f} s per step")
    print(f"ratio            {f32 / bf16:.2f}x" + ("" if cpu_has_bf16() else " (cpu_amp is a no-op on this CPU)"))


if __name__ == "__main__":
    main()
