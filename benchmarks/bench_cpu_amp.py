"""CPU training benchmark: a training step of the scenes model in float32 and under bf16 autocast, same run.

Run from the repository root:  make bench-cpu-amp   (or  .venv/bin/python benchmarks/bench_cpu_amp.py)

The step is the shipped scenes model's, exactly as minclip.train runs it: the `cpu` preset at 64 pixels, a batch of
128 Fashion Scenes pairs rendered and captioned on the fly (from the committed test sample, so no download), the
contrastive loss, backward, gradient clipping and an AdamW update. `minclip.train.train` runs ``--steps`` steps
with `TrainConfig.cpu_amp` off, then on, from the same weights, for ``--rounds`` interleaved rounds so that both
see the same machine load; it prints the median seconds per step of each and the ratio (above 1: bf16 is faster).
It first checks that the two precisions give nearly the same loss on one batch. On a CPU without bf16
instructions (`minclip.train.cpu_has_bf16()` is False) `cpu_amp` changes nothing, and the output says so.

Under bf16, minclip.attention.attention writes attention out in float32 instead of calling PyTorch's fused
F.scaled_dot_product_attention, which is slow in bf16 on a CPU for these short sequences. A third timed run, in the
same rounds, swaps the fused kernel back in, and a step of the text stage (minclip.word_order.teach_word_order,
128 triples) is timed both ways, so the ratios say what writing it out buys. A fourth run encodes each batch's
captions whole instead of in two halves by length (minclip.contrastive_step.SPLIT_ROWS), to say what the split buys.
"""

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from minclip import attention as attention_module
from minclip import contrastive_step as step_module
from minclip.datasets import collate
from minclip.loss import clip_loss
from minclip.model import CLIPConfig
from minclip.scenes import FashionScenes, SceneConfig
from minclip.train import TrainConfig, cpu_has_bf16, new_model, train
from minclip.word_order import teach_word_order


def seconds_per_step(model, data, steps: int, cpu_amp: bool) -> float:
    config = TrainConfig.cpu(max_steps=steps, warmup_steps=1, cpu_amp=cpu_amp, device="cpu", log_every=steps)
    start = time.perf_counter()
    train(model, data, config, None, progress=False)
    return (time.perf_counter() - start) / steps


def fused(q, k, v, attn_mask=None):
    """PyTorch's fused kernel, in place of minclip's attention, for comparison."""
    return F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)


def patched(kernel, split: bool, run):
    """run() with `kernel` as minclip.attention.attention (None: minclip's own), captions split or not."""
    own, rows = attention_module.attention, step_module.SPLIT_ROWS
    attention_module.attention = kernel or own
    step_module.SPLIT_ROWS = rows if split else 1 << 30
    try:
        return run()
    finally:
        attention_module.attention, step_module.SPLIT_ROWS = own, rows


def text_stage_seconds(model, data, steps: int) -> float:
    start = time.perf_counter()
    teach_word_order(model, data, steps, amp=True)
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

    times = {"float32": [], "bf16": [], "bf16, fused attention": [], "bf16, captions whole": [], "text stage": [],
             "text stage, fused attention": []}
    for _ in range(args.rounds):
        for name, on, kernel, split in (("float32", False, None, True), ("bf16", True, None, True),
                                        ("bf16, fused attention", True, fused, True),
                                        ("bf16, captions whole", True, None, False)):
            model.load_state_dict(weights)
            times[name].append(patched(kernel, split, lambda on=on: seconds_per_step(model, data, args.steps, on)))
        if cpu_has_bf16():
            for name, kernel in (("text stage", None), ("text stage, fused attention", fused)):
                model.load_state_dict(weights)
                times[name].append(patched(kernel, True, lambda: text_stage_seconds(model, data, args.steps)))
    t = {name: statistics.median(v) for name, v in times.items() if v}
    print(f"CPU has bf16 instructions: {cpu_has_bf16()}; {args.threads} threads, batch 128, 64 px, "
          f"{args.rounds} x {args.steps} steps each")
    print(f"float32          {t['float32']:.3f} s per step")
    print(f"bf16 (cpu_amp)   {t['bf16']:.3f} s per step")
    print(f"ratio            {t['float32'] / t['bf16']:.2f}x" + ("" if cpu_has_bf16() else
                                                                 " (cpu_amp is a no-op on this CPU)"))
    print(f"bf16, each batch's captions encoded whole  {t['bf16, captions whole']:.3f} s per step; split in two "
          f"halves by length is {t['bf16, captions whole'] / t['bf16']:.2f}x as fast")
    if cpu_has_bf16():
        print(f"bf16 with PyTorch's fused attention  {t['bf16, fused attention']:.3f} s per step; "
              f"minclip's written-out attention is {t['bf16, fused attention'] / t['bf16']:.2f}x as fast")
        print(f"text stage (128 triples), bf16: {t['text stage']:.3f} s per step, with the fused kernel "
              f"{t['text stage, fused attention']:.3f} s ({t['text stage, fused attention'] / t['text stage']:.2f}x)")

if __name__ == "__main__":
    main()
