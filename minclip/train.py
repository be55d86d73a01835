"""Training CLIP: the loop, its schedule, and checkpoints that resume exactly.

Follows Radford et al. 2021, section 2.5: AdamW (Loshchilov & Hutter 2017) with decoupled weight decay on all
weights except gains and biases, a cosine learning-rate schedule (Loshchilov & Hutter 2016) after a linear
warm-up, the learned temperature clipped at 100, and mixed precision on GPUs (bf16 autocast; with cpu_amp on CPUs
that have bf16 instructions too). Gradient clipping is an addition of ours (open_clip offers it too) that keeps
small-batch CPU runs stable.

The loop knows nothing about CLIP, as minGPT's Trainer knows nothing about GPT: what a step computes is an
objective (minclip.contrastive_step's ContrastiveStep, minclip.word_order's WordOrderStep with a text-side term
added, minclip.baseline's SupervisedStep for the supervised baseline) that turns a batch into a loss. Its settings
(TrainConfig, the schedules, the device) live in minclip.train_config; the command line in minclip.train_cli:
Command line:  python -m minclip.train --preset cpu --dataset fashion-mnist --out runs/cpu  (the shipped schedule)
On a GPU:      python -m minclip.train --schedule gpu --out runs/gpu  (TrainConfig.gpu(): 10 epochs of 256 pairs)
Several GPUs:  torchrun --nproc-per-node 8 -m minclip.train --preset rn50 ...  (batch size is per process)
With a ResNet, BatchNorm statistics stay per process (no SyncBatchNorm), as in open_clip's default.
"""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import torch
from tqdm.auto import tqdm

from minclip.contrastive_step import (  # noqa: F401 (re-exported: chapters, benchmarks and records use these names)
    SPLIT_ROWS,
    ContrastiveStep,
    _world,
    encode_text_split,
)
from minclip.datasets import collate
from minclip.model import CLIP, OPENAI_VOCAB_SIZE, CLIPConfig
from minclip.resources import asset
from minclip.tokenizer import BPETokenizer
from minclip.train_config import (  # noqa: F401 (re-exported)
    SCHEDULES,
    TrainConfig,
    cpu_has_bf16,
    learning_rate,
    param_groups,
    pick_device,
    uses_autocast,
)
from minclip.train_state import (  # noqa: F401 (re-exported: the appendix and the CLI read them from here)
    CheckpointError,
    _StopOnSignal,
    check_output_folder,
    load_training_state,
    save_training_state,
)


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C (SIGINT) or SIGTERM (``kill``, a scheduler, a container stop) stopped training after a whole step,
    and the state after that step was saved; ``signum`` says which signal."""

    def __init__(self, message: str, signum: int):
        super().__init__(message)
        self.signum = signum


def epoch_order(n: int, seed: int, epoch: int) -> torch.Tensor:
    """The shuffled order of the dataset in `epoch`: a pure function of (seed, epoch), so resuming replays it."""
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed * 1_000_003 + epoch))


def epoch_batches(dataset, index_lists: list[list[int]], num_workers: int = 0, pin_memory: bool = False):
    """Yield collate([dataset[i] for i in indices]) for each list, in order: in this process, or prepared ahead
    by `num_workers` DataLoader processes (the items are pure functions of (seed, epoch, index), so both give
    the same batches)."""
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


def new_model(config: CLIPConfig, seed: int = 0) -> CLIP:
    """A freshly initialised CLIP to train. A vocabulary smaller than OpenAI's 49,408 tokens (the `cpu` preset's
    2,048) is trained first on the book's captions, minclip/assets/captions.txt (chapter 1); then the weights,
    from `seed`."""
    tokenizer = None
    if config.vocab_size != OPENAI_VOCAB_SIZE:
        captions = asset("captions.txt").read_text(encoding="utf-8")
        tokenizer = BPETokenizer.train(captions.splitlines(), vocab_size=config.vocab_size)
    torch.manual_seed(seed)
    return CLIP(config, tokenizer=tokenizer)


# ----------------------------------------------------------------------------------------------------------
# the loop, in pieces: processes, optimiser and resume, this process's batches, one step, the end of an epoch


def _mover(device: torch.device, num_workers: int):
    """move(x, made_here) -> x on `device`. On CUDA a tensor made in this process is pinned first, so the copy
    overlaps the work before it (DataLoader workers' batches arrive pinned already)."""
    def move(x: torch.Tensor, made_here: bool = num_workers == 0) -> torch.Tensor:
        if device.type == "cuda" and made_here:
            x = x.pin_memory()
        return x.to(device, non_blocking=True)
    return move


def _objective_record(objective) -> dict:
    """What a checkpoint stores of its run's objective: its class and settings() (where it has them)."""
    return {"class": type(objective).__name__, **getattr(objective, "settings", dict)()}


def _restore(ckpt: Path | None, model, optimizer, resume: bool, objective) -> tuple[int, list[dict], list[dict]]:
    """(step, history, curve) to start from: zeros, or the checkpoint's after loading weights, buffers,
    optimiser state and the random generator. A checkpoint of another objective is refused."""
    if not resume:
        return 0, [], []
    if ckpt is None or not ckpt.exists():
        raise FileNotFoundError(f"--resume: no checkpoint at {ckpt}; start without --resume")
    state = load_training_state(ckpt)
    saved = state.get("objective")  # (checkpoints from before it was recorded: not checked)
    if saved is not None and saved != _objective_record(objective):
        raise CheckpointError(f"--resume: {ckpt} was trained with {saved}, this run asks for "
                              f"{_objective_record(objective)}; resume with the same settings (--word-order), or "
                              "start a new run in another --out folder")
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    torch.set_rng_state(state["torch_rng"])
    return state["step"], state["history"], state["curve"]


def _shares(dataset, config: TrainConfig, epoch: int, first: int, last: int, rank: int, world: int) -> list:
    """This process's items of batches first..last-1 of `epoch`: a dataset's own `epoch_order` (FashionScenes keeps
    twins in one batch) or epoch_order's shuffle, cut into global batches of world * batch_size."""
    order = (dataset.epoch_order(config.seed, epoch) if hasattr(dataset, "epoch_order")
             else epoch_order(len(dataset), config.seed, epoch).tolist())
    starts = (b * config.batch_size * world + rank * config.batch_size for b in range(first, last))
    return [order[s:s + config.batch_size] for s in starts]


def _step(objective, forward, batch, move, optimizer, params, lr: float, config: TrainConfig, device_type: str,
          use_amp: bool, step: int, ckpt: Path | None) -> torch.Tensor:
    """One optimisation step; raises TrainingDiverged (before any update) when the loss is not finite."""
    for group in optimizer.param_groups:
        group["lr"] = lr
    with torch.autocast(device_type, dtype=torch.bfloat16, enabled=use_amp):
        loss = objective.loss(forward, batch, move)
    if not torch.isfinite(loss):
        kept = ckpt if ckpt is not None and ckpt.exists() else "(none yet)"
        raise TrainingDiverged(f"the loss became {loss.item()} at step {step}; the last good checkpoint is kept at "
                               f"{kept}. Lower the learning rate (--lr) or raise --warmup-steps, then resume with "
                               "--resume.")
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if config.grad_clip:
        torch.nn.utils.clip_grad_norm_(params, config.grad_clip)
    optimizer.step()
    objective.after_step()
    return loss


def train(model: torch.nn.Module, dataset, config: TrainConfig, out_dir: str | Path | None, resume: bool = False,
          evaluate=None, progress: bool = True, objective=None) -> list[dict]:
    """Train `model` on `dataset` (items (image, caption, label)); checkpoint to out_dir/last.pt each epoch.

    `objective` says what a step computes (default: ContrastiveStep(model), CLIP's loss). `evaluate(model) ->
    dict` runs after each epoch; its figures go into the returned history. With `resume=True` training continues
    from out_dir/last.pt exactly where it stopped (same data order, captions, optimiser state, buffers and
    schedule). A NaN or infinite loss raises TrainingDiverged and keeps the last good checkpoint; Ctrl-C and
    SIGTERM finish the step and save first. Inside an initialised torch.distributed group (torchrun), each of the
    P processes takes `batch_size` items of every global batch of P * batch_size, gradients are averaged by
    DistributedDataParallel, and process 0 alone evaluates and writes files. out_dir=None: no files at all.
    """
    rank, world = _world()
    out_dir = None if out_dir is None else Path(out_dir)
    ckpt = None if out_dir is None else out_dir / "last.pt"
    if rank == 0 and out_dir is not None:
        check_output_folder(out_dir)
    objective = objective or ContrastiveStep(model)
    device = pick_device(config.device)
    if device.type == "cpu":
        # Adam's moments of weights that get no gradient (token embeddings no caption uses) decay into subnormal
        # floats after some hundred steps, and x86 CPUs compute on subnormals many times slower: flush them to zero
        torch.set_flush_denormal(True)
    torch.manual_seed(config.seed)
    model.to(device).train()
    # foreach: a few kernels over all tensors, not one tensor at a time (a CPU's default); the same numbers
    optimizer = torch.optim.AdamW(param_groups(model, config.weight_decay), lr=config.lr, betas=(0.9, 0.98),
                                  eps=1e-6, foreach=True)
    global_batch = config.batch_size * world
    steps_per_epoch = len(dataset) // global_batch
    if steps_per_epoch == 0:
        raise ValueError(f"the dataset has {len(dataset)} items, fewer than one batch of {global_batch}")
    total = config.epochs * steps_per_epoch
    total = total if config.max_steps is None else min(config.max_steps, total)
    step, history, curve = _restore(ckpt, model, optimizer, resume, objective)
    forward = objective.module()
    if world > 1:
        forward = torch.nn.parallel.DistributedDataParallel(forward, device_ids=[device] if device.type == "cuda"
                                                             else None)
    forward = torch.compile(forward) if config.compile else forward
    move, use_amp = _mover(device, config.num_workers), uses_autocast(config, device)

    def save():
        if rank == 0 and ckpt is not None:
            save_training_state(ckpt, model, optimizer, step, step // steps_per_epoch, config, history, curve,
                                _objective_record(objective))

    bar = tqdm(total=total, initial=step, desc="training", disable=not progress or rank != 0)
    mid_step = False  # True from a batch's forward pass to its step count: a state saved then is not whole
    stop = _StopOnSignal().install()  # Ctrl-C and SIGTERM finish the current step, then save and stop
    try:
        while step < total:
            epoch, position = divmod(step, steps_per_epoch)
            if hasattr(dataset, "set_epoch"):
                dataset.set_epoch(epoch)
            last_b = min(steps_per_epoch, position + total - step)  # a max_steps cut can end mid-epoch
            shares = _shares(dataset, config, epoch, position, last_b, rank, world)
            started = time.perf_counter()
            for batch in epoch_batches(dataset, shares, config.num_workers, device.type == "cuda"):
                mid_step = True
                if hasattr(objective, "set_step"):  # an objective that draws data of its own, per step
                    objective.set_step(step)
                loss = _step(objective, forward, batch, move, optimizer, model.parameters(),
                             learning_rate(step, total, config.warmup_steps, config.lr), config, device.type, use_amp,
                             step, ckpt)
                step += 1
                mid_step = False
                if step % config.log_every == 0 or step == total:
                    curve.append({"step": step, "loss": loss.item(), **objective.stats(),
                                  "lr": optimizer.param_groups[0]["lr"]})
                now = time.perf_counter()
                bar.update(1)
                bar.set_postfix(loss=f"{loss.item():.3f}", **{k: f"{v:.1f}" for k, v in objective.stats().items()},
                                img_s=f"{global_batch / (now - started):.0f}")
                started = now
                if stop.signum is not None:
                    break
            if step % steps_per_epoch == 0 or step >= total:
                history.append(_epoch_record(model, objective, evaluate if rank == 0 else None, epoch, step, loss))
                save()
            if stop.signum is not None:
                raise TrainingInterrupted(f"stopped by {signal.Signals(stop.signum).name} after step {step}",
                                          stop.signum)
    except KeyboardInterrupt:
        if mid_step:  # a second Ctrl-C, or an interrupt not sent as a signal: the last whole state is on disk
            print(f"interrupted inside step {step + 1}: its state is not whole, so the checkpoint from before "
                  f"it is kept{f' at {ckpt}' if ckpt is not None and ckpt.exists() else ''}; continue with --resume")
        else:
            save()
            print(f"interrupted at step {step}: " + (f"saved {ckpt}; continue with --resume" if ckpt else "no out_dir"))
        raise
    finally:
        stop.restore()
        bar.close()
    model.eval()
    if rank == 0 and out_dir is not None:
        (out_dir / "history.json").write_text(json.dumps(history, indent=1))
        (out_dir / "curve.json").write_text(json.dumps(curve))
    return history


def _epoch_record(model, objective, evaluate, epoch: int, step: int, loss: torch.Tensor) -> dict:
    """The history's line for an epoch: its last loss, the objective's figures and `evaluate(model)`'s."""
    record = {"epoch": epoch + 1, "step": step, "loss": loss.item(), **objective.stats()}
    if evaluate is not None:
        model.eval()
        record.update(evaluate(model))
        model.train()
    return record


if __name__ == "__main__":  # python -m minclip.train: the command line (minclip.train_cli)
    from minclip.allocator import use_tcmalloc
    from minclip.train_cli import main

    use_tcmalloc()  # the same run, sooner on a CPU: started again under tcmalloc where it is installed

    raise SystemExit(main())
