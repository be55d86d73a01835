"""Training settings: a run's TrainConfig with its named schedules, the device, and the learning-rate schedule.

Radford et al. 2021, section 2.5: AdamW (Loshchilov & Hutter 2017) with decoupled weight decay on all weights except
gains and biases, and a cosine learning-rate schedule (Loshchilov & Hutter 2016) after a linear warm-up; mixed
precision on GPUs (bf16 autocast here), and with cpu_amp on CPUs that have bf16 instructions too. The loop that
uses them is minclip.train, which re-exports every name here.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch


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
    amp: bool = True  # bf16 autocast on CUDA (and on a CPU with cpu_amp)
    cpu_amp: bool = False  # bf16 autocast on a CPU too, where it has bf16 instructions (cpu_has_bf16)
    compile: bool = False  # torch.compile the model (CUDA)
    num_workers: int = 0  # DataLoader worker processes preparing batches (0: in the training process)
    log_every: int = 10  # steps between points of the training curve (loss, temperature, learning rate)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def cpu(cls, **overrides) -> TrainConfig:
        """The shipped models' schedule: one epoch of 128 pairs (the language-first recipe stops it at 1,900 steps)."""
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


def cpu_has_bf16() -> bool:
    """Whether this CPU computes in bfloat16 natively (x86 AVX512-BF16 or AMX tiles): there autocast makes a step of
    the cpu preset 1.5 to 1.8 times as fast; elsewhere bf16 is emulated, slower than float32, and training stays in
    float32."""
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(getattr(torch.cpu, name, lambda: False)() for name in checks)


def uses_autocast(config: TrainConfig, device: torch.device) -> bool:
    """Whether a step runs under bf16 autocast: on CUDA with amp, on a bf16-capable CPU with amp and cpu_amp."""
    if not config.amp:
        return False
    return device.type == "cuda" or (device.type == "cpu" and config.cpu_amp and cpu_has_bf16())


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

