"""Training CLIP: the loop, its schedule, checkpoints that resume exactly, and the command line.

Follows Radford et al. 2021, section 2.5: AdamW (Loshchilov & Hutter 2017) with decoupled weight decay on all
weights except gains and biases, a cosine learning-rate schedule (Loshchilov & Hutter 2016) after a linear
warm-up, the learned temperature clipped at 100, and mixed precision on GPUs. Gradient clipping is an addition
of ours (open_clip offers it too) that keeps small-batch CPU runs stable.

Command line:  python -m minclip.train --preset cpu --dataset fashion-mnist --out runs/cpu  (the shipped schedule)
On a GPU:      python -m minclip.train --schedule gpu --out runs/gpu  (TrainConfig.gpu(): 10 epochs of 256 pairs)
Several GPUs:  torchrun --nproc-per-node 8 -m minclip.train --preset rn50 ...  (batch size is per process)
With a ResNet, BatchNorm statistics stay per process (no SyncBatchNorm), as in open_clip's default.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import signal
import sys
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.distributed as dist
from tqdm.auto import tqdm

from minclip.loss import ClipLoss, clamp_logit_scale, clip_loss
from minclip.model import CLIP, CLIPConfig
from minclip.resources import asset
from minclip.tokenizer import BPETokenizer


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C (SIGINT) or SIGTERM (``kill``, a scheduler, a container stop) stopped training after a whole step,
    and the state after that step was saved; ``signum`` says which signal."""

    def __init__(self, message: str, signum: int):
        super().__init__(message)
        self.signum = signum


@dataclass
class TrainConfig:
    epochs: int = 3
    batch_size: int = 128
    lr: float = 1e-3
    weight_decay: float = 0.1
    warmup_steps: int = 100
    grad_clip: float = 1.0
    seed: int = 0
    max_steps: int | None = None  # stop early (tests, quick looks); None: run every epoch
    device: str | None = None  # None: CUDA, then Apple MPS, then CPU
    amp: bool = True  # bf16 autocast on CUDA
    compile: bool = False  # torch.compile the model (CUDA)
    num_workers: int = 0  # DataLoader worker processes preparing batches (0: in the training process)
    log_every: int = 10  # steps between points of the training curve (loss, temperature, learning rate)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def cpu(cls, **overrides) -> TrainConfig:
        """The shipped model's schedule: one epoch of 128 pairs, about 10 minutes on 2 CPU cores."""
        return cls(**{"epochs": 1, "batch_size": 128, "lr": 2e-3, "warmup_steps": 50, **overrides})

    @classmethod
    def gpu(cls, **overrides) -> TrainConfig:
        """A GPU-sized schedule for the same model: ten epochs of 256 pairs, batches prepared by 8 workers."""
        return cls(**{"epochs": 10, "batch_size": 256, "lr": 2e-3, "warmup_steps": 200, "num_workers": 8,
                      **overrides})


SCHEDULES = {"cpu": TrainConfig.cpu, "gpu": TrainConfig.gpu}


def pick_device(name: str | None = None) -> torch.device:
    if name:
        return torch.device(name)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def machine_name(device: torch.device | str = "cpu") -> str:
    """What a figure was measured on: the GPU's name on CUDA, else the CPU's model name (for records)."""
    if torch.device(device).type == "cuda":
        return torch.cuda.get_device_name(torch.device(device))
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict]:
    """Weight decay on matrices and filters only: gains, biases and the temperature (ndim < 2) are exempt."""
    decay = [p for p in model.parameters() if p.requires_grad and p.ndim >= 2]
    no_decay = [p for p in model.parameters() if p.requires_grad and p.ndim < 2]
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def learning_rate(step: int, total: int, warmup: int, base: float) -> float:
    """Linear warm-up over `warmup` steps, then a cosine decay to zero at `total`."""
    if step < warmup:
        return base * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return base * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def epoch_order(n: int, seed: int, epoch: int) -> torch.Tensor:
    """The shuffled order of the dataset in `epoch`: a pure function of (seed, epoch), so resuming replays it."""
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed * 1_000_003 + epoch))


def epoch_batches(dataset, index_lists: list[list[int]], num_workers: int = 0, pin_memory: bool = False):
    """Yield collate([dataset[i] for i in indices]) for each list, in order: in this process, or prepared ahead
    by `num_workers` DataLoader processes (the items are pure functions of (seed, epoch, index), so both give
    the same batches)."""
    from minclip.datasets import collate

    if num_workers == 0:
        for indices in index_lists:
            yield collate([dataset[i] for i in indices])
        return
    yield from torch.utils.data.DataLoader(dataset, batch_sampler=index_lists, collate_fn=collate,
                                           num_workers=num_workers, pin_memory=pin_memory,
                                           worker_init_fn=_ignore_ctrl_c)


def _ignore_ctrl_c(worker_id: int) -> None:
    """In a DataLoader worker: a terminal's Ctrl-C reaches every process of the group, and a worker that died of it
    would fail the step the training process is finishing before it saves (see _StopOnSignal)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


# ----------------------------------------------------------------------------------------------------------
# checkpoints


def save_training_state(path: Path, model: CLIP, optimizer, step: int, epoch: int, config: TrainConfig,
                        history: list[dict], curve: list[dict]) -> None:
    """Write atomically: a temporary file in the same folder, then a rename, so a crash never leaves half a file."""
    state = {
        "model": model.state_dict(), "optimizer": optimizer.state_dict(), "step": step, "epoch": epoch,
        "model_config": model.config.to_dict(), "train_config": config.to_dict(), "history": history,
        "curve": curve,
        "tokenizer_merges": [list(m) for m in model.tokenizer.merges] if model.tokenizer is not None else None,
        "torch_rng": torch.get_rng_state(),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def check_output_folder(out_dir: str | Path) -> Path:
    """Create ``out_dir`` and prove a file can be written in it, before any training step is spent."""
    out_dir = Path(out_dir)
    probe = out_dir / f".minclip-write-test-{os.getpid()}"
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as err:
        raise OSError(f"cannot write checkpoints to {out_dir} ({err.strerror or err}); pick another folder with "
                      "--out, or fix its permissions, before training") from None
    return out_dir


class _StopOnSignal:
    """While active (in the main thread), SIGINT and SIGTERM ask the loop to stop after the current step instead
    of killing it mid-step: a state saved mid-step would count that step's batch twice on resume (BatchNorm's
    running statistics and ``num_batches_tracked`` would already hold it). A second Ctrl-C stops at once."""

    def __init__(self):
        self.signum, self._previous = None, {}

    def install(self) -> _StopOnSignal:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.signum is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt  # pressed twice: stop now
        self.signum = signum

    def restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def load_training_state(path: Path) -> dict:
    """Read a checkpoint written by `save_training_state` (weights-only unpickling: no code runs)."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 (a damaged or foreign file fails in many ways)
        raise ValueError(f"{path}: not a minclip training checkpoint ({type(err).__name__}); "
                         "start without --resume or point --out at another folder") from None


# ----------------------------------------------------------------------------------------------------------
# the loop


class _Towers(torch.nn.Module):
    """Both encoders behind one forward(), so DistributedDataParallel sees every parameter in use."""

    def __init__(self, model: CLIP):
        super().__init__()
        self.model = model

    def forward(self, images, tokens):
        return self.model.encode_image(images), self.model.encode_text(tokens)


def new_model(config: CLIPConfig, seed: int = 0) -> CLIP:
    """A freshly initialised CLIP to train. A vocabulary smaller than OpenAI's 49,408 tokens (the `cpu` preset's
    2,048) is trained first on the book's captions, minclip/assets/captions.txt (chapter 1); then the weights,
    from `seed`."""
    tokenizer = None
    if config.vocab_size != 49408:
        captions = asset("captions.txt").read_text(encoding="utf-8")
        tokenizer = BPETokenizer.train(captions.splitlines(), vocab_size=config.vocab_size)
    torch.manual_seed(seed)
    return CLIP(config, tokenizer=tokenizer)


def train(model: CLIP, dataset, config: TrainConfig, out_dir: str | Path, resume: bool = False,
          evaluate=None, progress: bool = True) -> list[dict]:
    """Train `model` on `dataset` (items (image, caption, label)); checkpoint to out_dir/last.pt each epoch.

    `evaluate(model) -> dict` runs after each epoch; its figures go into the returned history. With
    `resume=True` training continues from out_dir/last.pt exactly where it stopped (same data order, captions,
    optimiser state and schedule). A NaN or infinite loss raises TrainingDiverged and keeps the last good
    checkpoint; Ctrl-C saves the current state first. Inside an initialised torch.distributed group (torchrun),
    each of the P processes takes `batch_size` items of every global batch of P * batch_size, gradients are
    averaged by DistributedDataParallel over ClipLoss(local_loss=True, gather_with_grad=True), and process 0
    alone evaluates and writes files.
    """
    distributed = dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1
    rank, world = (dist.get_rank(), dist.get_world_size()) if distributed else (0, 1)
    out_dir, ckpt = Path(out_dir), Path(out_dir) / "last.pt"
    if rank == 0:
        check_output_folder(out_dir)
    device = pick_device(config.device)
    torch.manual_seed(config.seed)
    model.to(device).train()
    optimizer = torch.optim.AdamW(param_groups(model, config.weight_decay), lr=config.lr, betas=(0.9, 0.98),
                                  eps=1e-6)
    global_batch = config.batch_size * world
    steps_per_epoch = len(dataset) // global_batch
    if steps_per_epoch == 0:
        raise ValueError(f"the dataset has {len(dataset)} items, fewer than one batch of {global_batch}")
    total = config.epochs * steps_per_epoch
    total = total if config.max_steps is None else min(config.max_steps, total)
    step, history, curve = 0, [], []
    if resume and ckpt.exists():
        state = load_training_state(ckpt)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        step, history, curve = state["step"], state["history"], state["curve"]
        torch.set_rng_state(state["torch_rng"])
    elif resume:
        raise FileNotFoundError(f"--resume: no checkpoint at {ckpt}; start without --resume")
    towers = _Towers(model)
    if distributed:
        towers = torch.nn.parallel.DistributedDataParallel(towers, device_ids=[device] if device.type == "cuda"
                                                            else None)
    towers = torch.compile(towers) if config.compile else towers
    loss_fn = ClipLoss(local_loss=True, gather_with_grad=True) if distributed else clip_loss
    use_amp = config.amp and device.type == "cuda"
    save = (lambda: save_training_state(ckpt, model, optimizer, step, step // steps_per_epoch, config, history,
                                        curve)) if rank == 0 else (lambda: None)

    bar = tqdm(total=total, initial=step, desc="training", disable=not progress or rank != 0)
    mid_step = False  # True from a batch's forward pass to its step count: a state saved then is not whole
    stop = _StopOnSignal().install()  # Ctrl-C and SIGTERM finish the current step, then save and stop
    try:
        while step < total:
            epoch, position = divmod(step, steps_per_epoch)
            if hasattr(dataset, "set_epoch"):
                dataset.set_epoch(epoch)
            order = (dataset.epoch_order(config.seed, epoch) if hasattr(dataset, "epoch_order")  # (twins)
                     else epoch_order(len(dataset), config.seed, epoch).tolist())
            last_b = min(steps_per_epoch, position + total - step)  # a max_steps cut can end mid-epoch
            starts = (b * global_batch + rank * config.batch_size for b in range(position, last_b))
            shares = [order[s:s + config.batch_size] for s in starts]  # this process's share of each batch
            started = time.perf_counter()
            for images, captions, _ in epoch_batches(dataset, shares, config.num_workers, device.type == "cuda"):
                tokens = model.tokenize(captions, truncate=True)
                if device.type == "cuda":  # (the workers' batches arrive pinned already)
                    images = images if config.num_workers else images.pin_memory()
                    tokens = tokens.pin_memory()
                images, tokens = images.to(device, non_blocking=True), tokens.to(device, non_blocking=True)
                for group in optimizer.param_groups:
                    group["lr"] = learning_rate(step, total, config.warmup_steps, config.lr)
                mid_step = True
                with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_amp):
                    image_features, text_features = towers(images, tokens)
                    loss = loss_fn(image_features, text_features, model.logit_scale.exp())
                if not torch.isfinite(loss):
                    raise TrainingDiverged(
                        f"the loss became {loss.item()} at step {step}; the last good checkpoint is kept at "
                        f"{ckpt if ckpt.exists() else '(none yet)'}. Lower the learning rate (--lr) or raise "
                        "--warmup-steps, then resume with --resume.")
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if config.grad_clip:
                    torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
                optimizer.step()
                clamp_logit_scale(model.logit_scale)
                step += 1
                mid_step = False
                if step % config.log_every == 0 or step == total:
                    curve.append({"step": step, "loss": loss.item(), "logit_scale": model.logit_scale.exp().item(),
                                  "lr": optimizer.param_groups[0]["lr"]})
                bar.update(1)
                now = time.perf_counter()
                bar.set_postfix(loss=f"{loss.item():.3f}", scale=f"{model.logit_scale.exp().item():.1f}",
                                img_s=f"{global_batch / (now - started):.0f}")
                started = now
                if stop.signum is not None:
                    break
            if step % steps_per_epoch == 0 or step >= total:
                record = {"epoch": epoch + 1, "step": step, "loss": loss.item(),
                          "logit_scale": model.logit_scale.exp().item()}
                if evaluate is not None and rank == 0:
                    model.eval()
                    record.update(evaluate(model))
                    model.train()
                history.append(record)
                save()
            if stop.signum is not None:
                raise TrainingInterrupted(f"stopped by {signal.Signals(stop.signum).name} after step {step}",
                                          stop.signum)
    except KeyboardInterrupt:
        if mid_step:  # a second Ctrl-C, or an interrupt not sent as a signal: the last whole state is on disk
            print(f"interrupted inside step {step + 1}: its state is not whole, so the checkpoint from before "
                  f"it is kept{f' at {ckpt}' if ckpt.exists() else ''}; continue with --resume")
        else:
            save()
            print(f"interrupted at step {step}: saved {ckpt}; continue with --resume")
        raise
    finally:
        stop.restore()
        bar.close()
    model.eval()
    if rank == 0:
        (out_dir / "history.json").write_text(json.dumps(history, indent=1))
        (out_dir / "curve.json").write_text(json.dumps(curve))
    return history


DATASETS = ("fashion-scenes", "fashion-mnist", "fashion-scenes-sample", "fashion-mnist-sample")


def build_datasets(name: str, resolution: int, seed: int):
    """(train set, Fashion-MNIST test set, class prompts, templates) for a --dataset name. The scenes model is
    scored with the data set's own class names and prompt frames its captions never used; the label-caption
    model with its own names and templates (chapter 7). "-sample" variants use the committed 1,000 images."""
    from minclip import datasets, scenes
    from minclip.captions import CLASSNAMES, EVAL_TEMPLATES
    from minclip.data import FASHION_MNIST_CLASSES
    from minclip.scene_text import EVAL_FRAMES, article

    sample = name.endswith("-sample")
    test_set = (datasets.FashionMNISTPairs.sample(resolution=resolution, seed=seed) if sample
                else datasets.FashionMNISTPairs("test", resolution=resolution, seed=seed))
    if name.startswith("fashion-scenes"):
        config = scenes.SceneConfig(resolution=resolution)
        train_set = (scenes.FashionScenes.sample("train", n=1000, config=config, seed=seed) if sample
                     else scenes.FashionScenes("train", n=60_000, config=config, seed=seed))
        return train_set, test_set, [article(c.lower()) for c in FASHION_MNIST_CLASSES], EVAL_FRAMES
    train_set = test_set if sample else datasets.FashionMNISTPairs("train", resolution=resolution, seed=seed)
    return train_set, test_set, CLASSNAMES, EVAL_TEMPLATES


def _number(kind: type, low: float | None, strict: bool = False, what: str = ""):
    """An argparse type: a finite `kind` number at least `low` (above it if `strict`), else a sentence."""
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
        if not math.isfinite(value) or (low is not None and (value <= low if strict else value < low)):
            raise argparse.ArgumentTypeError(f"must be {what}, not {text}")
        return value
    return parse


_WHOLE, _COUNT = "a whole number of 1 or more", "a whole number of 0 or more"
_SETTINGS = {  # TrainConfig field -> (argparse type, help)
    "epochs": (_number(int, 1, what=_WHOLE), "passes over the training data"),
    "batch_size": (_number(int, 1, what=_WHOLE), "pairs per step (per process under torchrun)"),
    "lr": (_number(float, 0, strict=True, what="a number above 0"), "peak learning rate"),
    "weight_decay": (_number(float, 0, what="a number of 0 or more"), "AdamW's decoupled weight decay"),
    "warmup_steps": (_number(int, 0, what=_COUNT), "steps of linear warm-up"),
    "grad_clip": (_number(float, 0, what="a number of 0 or more"), "gradient norm clip (0: none)"),
    "seed": (_number(int, None, what="a whole number"), "seed of the weights, data order and captions"),
    "max_steps": (_number(int, 1, what=_WHOLE), "stop after this many steps"),
    "num_workers": (_number(int, 0, what=_COUNT), "DataLoader processes preparing batches"),
}


def _own_images(parser: argparse.ArgumentParser, path: Path, resolution: int):
    """--train-data: the CSV or folder as an ImageCaptionFolder, every image opened once before training."""
    from minclip.image_folder import ImageCaptionFolder

    try:
        data = ImageCaptionFolder(path.expanduser(), resolution=resolution)
        print(f"checking the {len(data):,} images of {path} ...", flush=True)
        data.verify()
    except (FileNotFoundError, ValueError, OSError) as err:
        parser.error(f"--train-data: {err}")
    return data


def main(argv: list[str] | None = None) -> int:
    from minclip import datasets
    from minclip.load import save_checkpoint
    from minclip.model import PRESETS
    from minclip.zeroshot import retrieval_recall, zero_shot_classifier, zero_shot_eval

    parser = argparse.ArgumentParser(description="Train a small CLIP (see the book's chapter 6).")
    parser.add_argument("--preset", default="cpu", choices=sorted(PRESETS))
    parser.add_argument("--dataset", default="fashion-mnist", choices=DATASETS,
                        help="fashion-scenes: captioned scenes (chapter 6); fashion-mnist: captions from labels")
    parser.add_argument("--out", default="runs/cpu",
                        help="folder for last.pt, history.json, curve.json and model.safetensors")
    parser.add_argument("--train-data", type=Path, default=None, metavar="PATH",
                        help="train on your own images instead of --dataset: a CSV with the header filepath,caption, "
                             "a folder of class subfolders, or any folder of images (file names as captions); "
                             "every file is checked before the first step")
    parser.add_argument("--resume", action="store_true", help="continue from --out's last.pt")
    parser.add_argument("--schedule", default="cpu", choices=sorted(SCHEDULES),
                        help="the settings below start from TrainConfig.cpu() or TrainConfig.gpu()")
    for name, (parse, text) in _SETTINGS.items():
        parser.add_argument("--" + name.replace("_", "-"), type=parse, default=None, help=text)
    parser.add_argument("--device", default=None)
    parser.add_argument("--compile", action="store_true", default=None, help="torch.compile the model (CUDA)")
    parser.add_argument("--no-amp", dest="amp", action="store_false", default=None, help="no bf16 autocast on CUDA")
    args = parser.parse_args(argv)
    config = SCHEDULES[args.schedule](**{k: getattr(args, k) for k in TrainConfig.__dataclass_fields__
                                         if getattr(args, k, None) is not None})
    try:  # what would otherwise fail after training, at the first save
        check_output_folder(args.out)
    except OSError as err:
        parser.error(f"--out: {err}")
    if args.resume and not (Path(args.out) / "last.pt").is_file():
        parser.error(f"--resume: no checkpoint at {Path(args.out) / 'last.pt'}; run without --resume to start, or "
                     "point --out at the folder of the run to continue")
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:  # started by torchrun: one process per GPU (or CPU worker)
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
        if torch.cuda.is_available():
            config.device = f"cuda:{os.environ['LOCAL_RANK']}"
            torch.cuda.set_device(config.device)
    model = new_model(PRESETS[args.preset](), config.seed)
    classnames, templates = None, None
    if args.train_data is not None:
        train_set = test_set = _own_images(parser, args.train_data, model.config.image_resolution)
        # zero-shot over the class subfolders with the paper's prompt; no classes: retrieval figures only
        classnames, templates = train_set.classnames, ("a photo of a {}.",)
    else:
        train_set, test_set, classnames, templates = build_datasets(args.dataset, model.config.image_resolution,
                                                                    config.seed)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if len(train_set) < config.batch_size * world:
        parser.error(f"--batch-size {config.batch_size}{f' x {world} processes' if world > 1 else ''} is more than "
                     f"the {len(train_set):,} training pairs; pick a batch size of at most {len(train_set) // world}")

    def evaluate(m):
        metrics = {}
        if classnames is not None and len(classnames) > 1:
            classifier = zero_shot_classifier(m, classnames, templates)
            loader = torch.utils.data.DataLoader(test_set, batch_size=256, collate_fn=datasets.collate)
            metrics = zero_shot_eval(m, loader, classifier)
        # retrieval among the first 1,000 test pairs: many captions fit many images here (10 classes), so
        # recall@1 is low by construction; recall@10 says whether the right class comes first
        images, captions, _ = datasets.collate([test_set[i] for i in range(min(1000, len(test_set)))])
        with torch.no_grad():
            device = next(m.parameters()).device
            image_features = m.encode_image(images.to(device))
            text_features = m.encode_text(m.tokenize(captions, truncate=True).to(device))
        return {**metrics, **retrieval_recall(image_features, text_features)}

    try:
        history = train(model, train_set, config, args.out, resume=args.resume, evaluate=evaluate)
    except TrainingInterrupted as err:  # saved; train() printed how to continue
        return 128 + err.signum  # the shell's code for a process stopped by that signal
    except TrainingDiverged as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    if not dist.is_initialized() or dist.get_rank() == 0:
        save_checkpoint(model.cpu(), Path(args.out) / "model.safetensors",
                        metadata={"history": json.dumps(history), "train_config": json.dumps(config.to_dict())})
        print(json.dumps(history[-1]))
    if dist.is_initialized():
        dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
