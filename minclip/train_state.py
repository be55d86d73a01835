"""A training run's state on disk and the signals that stop it: checkpoints that resume exactly, written
atomically, read without running code, an output folder proved writable before the first step, and Ctrl-C or
SIGTERM that finish the current step instead of killing it (see the book's appendix of engineering notes).

minclip.train's loop uses these; they follow the practice of open_clip's and PyTorch's examples' trainers: save
model, optimiser, step and random state together, and load with torch.load(weights_only=True).
"""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path

import torch


class CheckpointError(ValueError):
    """A checkpoint that cannot be resumed: damaged, foreign, or of another objective. The message says what to do."""


def save_training_state(path: Path, model: torch.nn.Module, optimizer, step: int, epoch: int, config,
                        history: list[dict], curve: list[dict], objective: dict | None = None) -> None:
    """Write atomically: a temporary file in the same folder, then a rename, so a crash never leaves half a file.
    `config` is the run's minclip.train.TrainConfig, `objective` the run's objective (class and settings). A CLIP's
    config and tokenizer go in too; a model without them (the supervised baseline) stores None."""
    tokenizer = getattr(model, "tokenizer", None)
    state = {
        "model": model.state_dict(), "optimizer": optimizer.state_dict(), "step": step, "epoch": epoch,
        "model_config": model.config.to_dict() if hasattr(model, "config") else None,
        "train_config": config.to_dict(), "history": history, "curve": curve,
        "tokenizer_merges": [list(m) for m in tokenizer.merges] if tokenizer is not None else None,
        "torch_rng": torch.get_rng_state(), "objective": objective,
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
        raise CheckpointError(f"{path}: not a minclip training checkpoint ({type(err).__name__}); "
                         "start without --resume or point --out at another folder") from None
