"""Model benchmark: minclip's CLIP against open_clip's on the same architecture, weights and batch, same run.

Run from the repository root:  make bench-model   (or  .venv/bin/python benchmarks/bench_model.py)

For each architecture both models get identical weights; one step is forward (images and texts) + the
CLIP loss + backward + an AdamW update, the two models' steps interleaved so both see the same machine load.
It prints the median seconds per step of each and the ratio (above 1: minclip is faster), after
checking that both give the same logits, and the activation memory of a step: the bytes of the tensors
autograd keeps for the backward pass (weights and optimiser state are the same for both and not counted).
"""

import argparse
import logging
import statistics
import sys
import time

import open_clip
import torch
import torch.nn.functional as F
from open_clip.model import CLIPTextCfg, CLIPVisionCfg

from minclip.model import CLIP, CLIPConfig


def open_clip_twin(config: CLIPConfig):
    """open_clip's CLIP with the same architecture as `config` (QuickGELU, OpenAI's layout)."""
    vision = CLIPVisionCfg(layers=config.vision_layers, width=config.vision_width,
                           patch_size=config.vision_patch_size or 16, image_size=config.image_resolution)
    if config.vision_patch_size is None:
        vision.patch_size = None
    text = CLIPTextCfg(context_length=config.context_length, vocab_size=config.vocab_size,
                       width=config.transformer_width, heads=config.transformer_heads,
                       layers=config.transformer_layers)
    return open_clip.model.CLIP(config.embed_dim, vision, text, quick_gelu=True)


def logits_of(model, images, tokens):
    out = model(images, tokens)
    if isinstance(model, CLIP):
        return out[0]
    image_features, text_features, scale = out[:3]  # open_clip returns features and the scale
    return scale * image_features @ text_features.t()


def step(model, optimizer, images, tokens):
    """One training step: forward, the symmetric cross-entropy, backward, AdamW."""
    logits = logits_of(model, images, tokens)
    labels = torch.arange(len(images))
    loss = (F.cross_entropy(logits, labels) + F.cross_entropy(logits.t(), labels)) / 2
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()


def saved_activation_bytes(model, images, tokens):
    """Bytes of the tensors autograd saves for the backward pass of one step: the activation memory."""
    total, seen = 0, set()

    def pack(t):
        nonlocal total
        key = (t.untyped_storage().data_ptr(), t.untyped_storage().nbytes())
        if key not in seen:
            seen.add(key)
            total += key[1]
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        logits = logits_of(model, images, tokens)
    logits.sum().backward()
    model.zero_grad(set_to_none=True)
    return total


def timed_pair(models, images, tokens, steps):
    """Median seconds per step of each model, their steps interleaved so that both see the same machine load."""
    optimizers = [torch.optim.AdamW(m.parameters(), lr=1e-4) for m in models]
    times = [[] for _ in models]
    for i in range(steps + 1):  # the first round warms up and is not counted
        for m, opt, t in zip(models, optimizers, times):
            start = time.perf_counter()
            step(m, opt, images, tokens)
            if i:
                t.append(time.perf_counter() - start)
    return [statistics.median(t) for t in times]


def main():
    sys.stdout.reconfigure(line_buffering=True)
    logging.getLogger().setLevel(logging.ERROR)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=["cpu", "vit_b_32", "rn50"])
    parser.add_argument("--batch", type=int, default=None, help="default: 64 for cpu, 8 for the others")
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, open_clip {open_clip.__version__}, {args.threads} threads, CPU")
    print(f"{'preset':9} {'batch':>5} {'minclip s/step':>15} {'open_clip s/step':>17} {'speed-up':>9} "
          f"{'minclip MiB':>12} {'open_clip MiB':>14}")
    for name in args.presets:
        config = getattr(CLIPConfig, name)()
        torch.manual_seed(0)
        ours, ref = CLIP(config).train(), open_clip_twin(config).train()
        ref.load_state_dict(ours.state_dict(), strict=True)
        batch = args.batch or (64 if name == "cpu" else 8)
        images = torch.randn(batch, 3, config.image_resolution, config.image_resolution)
        # caption-like rows: 8 to 20 tokens (as in minclip/assets/captions.txt), the end-of-text token (the largest id),
        # then zero padding up to the context length
        lengths = torch.randint(8, 21, (batch,), generator=torch.Generator().manual_seed(1))
        tokens = torch.randint(1, config.vocab_size - 1, (batch, config.context_length))
        tokens[torch.arange(config.context_length) >= lengths[:, None]] = 0
        tokens[torch.arange(batch), lengths - 1] = config.vocab_size - 1
        with torch.no_grad():
            a, b = logits_of(ours.eval(), images, tokens), logits_of(ref.eval(), images, tokens)
        if ((a - b).norm() / b.norm()).item() > 1e-4:
            sys.exit(f"{name}: minclip and open_clip disagree; the benchmark is void")
        ours.train(), ref.train()
        t_ours, t_ref = timed_pair([ours, ref], images, tokens, args.steps)
        m_ours, m_ref = (saved_activation_bytes(m, images, tokens) / 2**20 for m in (ours, ref))
        print(f"{name:9} {batch:5d} {t_ours:15.3f} {t_ref:17.3f} {t_ref / t_ours:8.2f}x {m_ours:12.0f} {m_ref:14.0f}")


if __name__ == "__main__":
    main()
