"""The supervised baseline: CLIP's image encoder trained on the labels, to put zero-shot accuracy in context.

Radford et al. 2021 (section 3.1.5, figure 5) set zero-shot CLIP beside a supervised classifier: a logistic
regression on the features of an ImageNet-trained ResNet-50. At our scale the fairest question is narrower:
give the *same* image encoder (the `cpu` preset's ModifiedResNet, initialised as in CLIP) the same images, the
same optimiser, schedule, batch size and number of steps, but train it on the labels with a linear layer and
cross-entropy instead of on captions with the contrastive loss. How far behind is a classifier that never saw
a label?

Command line (writes the record the book reads; needs the full Fashion-MNIST: `make data`):
    python -m minclip.baseline --out data/models/supervised-baseline.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from minclip.model import CLIP, CLIPConfig
from minclip.train import (
    TrainConfig,
    epoch_batches,
    epoch_order,
    learning_rate,
    machine_name,
    param_groups,
    pick_device,
)


class SupervisedBaseline(nn.Module):
    """CLIP's image tower (built and initialised exactly as in `CLIP(config)`) followed by a linear classifier."""

    def __init__(self, config: CLIPConfig, num_classes: int):
        super().__init__()
        self.visual = CLIP(config).visual  # the same encoder, with CLIP's initialisation
        self.head = nn.Linear(config.embed_dim, num_classes)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.head(self.visual(image))  # (B, num_classes) logits


def train_supervised(model: SupervisedBaseline, dataset, config: TrainConfig, progress: bool = True) -> list[dict]:
    """Train on (image, caption, label) items with cross-entropy on the labels; the schedule of minclip.train.

    Same data order (epoch_order), AdamW groups, warm-up + cosine, gradient clipping and bf16 autocast on CUDA
    as CLIP's training, so the two runs differ only in what they learn from. Returns one record per epoch.
    """
    device = pick_device(config.device)
    torch.manual_seed(config.seed)
    model.to(device).train()
    optimizer = torch.optim.AdamW(param_groups(model, config.weight_decay), lr=config.lr, betas=(0.9, 0.98),
                                  eps=1e-6)
    steps_per_epoch = len(dataset) // config.batch_size
    if steps_per_epoch == 0:
        raise ValueError(f"the dataset has {len(dataset)} items, fewer than one batch of {config.batch_size}")
    total = config.epochs * steps_per_epoch if config.max_steps is None else config.max_steps
    forward = torch.compile(model) if config.compile else model
    use_amp = config.amp and device.type == "cuda"
    step, history = 0, []
    bar = tqdm(total=total, desc="supervised", disable=not progress)
    for epoch in range(config.epochs):
        if step >= total:
            break
        if hasattr(dataset, "set_epoch"):
            dataset.set_epoch(epoch)
        order = epoch_order(len(dataset), config.seed, epoch).tolist()
        shares = [order[b * config.batch_size:(b + 1) * config.batch_size]
                  for b in range(min(steps_per_epoch, total - step))]
        for images, _, labels in epoch_batches(dataset, shares, config.num_workers, device.type == "cuda"):
            images, labels = images.to(device, non_blocking=True), labels.to(device, non_blocking=True)
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(step, total, config.warmup_steps, config.lr)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_amp):
                loss = F.cross_entropy(forward(images).float(), labels)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"the loss became {loss.item()} at step {step}; lower the learning rate")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if config.grad_clip:
                torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            optimizer.step()
            step += 1
            bar.update(1)
            bar.set_postfix(loss=f"{loss.item():.3f}")
        history.append({"epoch": epoch + 1, "step": step, "loss": loss.item()})
    bar.close()
    model.eval()
    return history


@torch.no_grad()
def accuracy(model: SupervisedBaseline, loader, progress: bool = True) -> dict:
    """Top-1 and top-5 accuracy (in %) over batches (images, captions, labels)."""
    device = next(model.parameters()).device
    correct1 = correct5 = n = 0
    for images, _, labels in tqdm(loader, desc="evaluating", disable=not progress, leave=False):
        top5 = model(images.to(device)).float().topk(5, dim=-1).indices.cpu()  # (B, 5)
        hits = top5 == torch.as_tensor(labels)[:, None]
        correct1 += hits[:, 0].sum().item()
        correct5 += hits.any(dim=-1).sum().item()
        n += len(labels)
    return {"top1": 100.0 * correct1 / n, "top5": 100.0 * correct5 / n, "n": n}


def main(argv: list[str] | None = None) -> int:
    from minclip import datasets

    parser = argparse.ArgumentParser(description="Train the supervised baseline of the shipped model's encoder.")
    parser.add_argument("--out", default="data/models/supervised-baseline.json")
    parser.add_argument("--epochs", type=int, default=1, help="TrainConfig.cpu(), the shipped model's schedule, has 1")
    parser.add_argument("--device", default=None)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--num-workers", type=int, default=0)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    config = TrainConfig.cpu(epochs=args.epochs, device=args.device, num_workers=args.num_workers)
    model_config = CLIPConfig.cpu()
    torch.manual_seed(config.seed)
    model = SupervisedBaseline(model_config, num_classes=10)
    train_set = datasets.FashionMNISTPairs("train", resolution=model_config.image_resolution, seed=config.seed)
    started = time.perf_counter()
    history = train_supervised(model, train_set, config)
    seconds = time.perf_counter() - started
    test_set = datasets.FashionMNISTPairs("test", resolution=model_config.image_resolution)
    loader = torch.utils.data.DataLoader(test_set, batch_size=256, collate_fn=datasets.collate)
    device = pick_device(args.device)
    record = {
        "what": "supervised baseline: the cpu preset's image encoder + a linear layer, cross-entropy on the labels",
        "command": " ".join(["python -m minclip.baseline", *(sys.argv[1:] if argv is None else argv)]),
        "train_config": config.to_dict(), "history": history, "train_seconds": round(seconds, 1),
        "test": accuracy(model, loader), "device": str(device),
        "machine": machine_name(device), "threads": args.threads, "torch": torch.__version__,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(record, indent=1) + "\n")
    print(json.dumps(record["test"]), f"{seconds:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
