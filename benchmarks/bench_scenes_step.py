"""Where a step of the shipped scenes recipe spends its time, and what a fused AdamW would save, same run.

Run from the repository root:  make bench-scenes-step   (or  .venv/bin/python benchmarks/bench_scenes_step.py)

The step is the language-first recipe's (minclip.recipes, the shipped `fashion-scenes-cpu`): the `cpu` preset at
64 pixels, 128 scenes of its stream (SceneConfig.language_first, drawn from the committed test sample, so no
download) rendered and captioned on the fly, CLIP's loss plus the word-order term on every second step
(minclip.word_order.WordOrderStep), under bf16 autocast where the CPU has bf16, backward, gradient clipping and
AdamW, as minclip.train runs it. Each of ``--steps`` steps is timed in four parts: building the batch, the
forward pass and loss, backward, and clipping plus the update; it prints the median milliseconds of each and its
share of the step. The ten-minute budget of issue 11 is these steps times the recipe's count, plus its text stage.

PyTorch's AdamW runs one tensor at a time on a CPU unless asked; minclip.train asks for `foreach=True` (a few
kernels over all tensors, the same numbers), and `fused=True` would do the whole update in one kernel. The last
lines time the three updates on the model's own gradients, interleaved, and print each one's ratio to one tensor
at a time (above 1: faster). minclip.train does not fuse: that changes the last bits of every training run, and
so of every record. Run it under tcmalloc or not (LD_PRELOAD; `make bench-allocator` runs it both ways): it
prints which.
"""

import argparse
import statistics
import time

import torch

from minclip.allocator import allocator_name
from minclip.datasets import collate
from minclip.recipes import RECIPES, SCENE_STREAMS
from minclip.scenes import FashionScenes
from minclip.train import TrainConfig, cpu_has_bf16, new_model, param_groups
from minclip.train_cli import model_config, objective

PARTS = ("batch", "forward", "backward", "update")


class RecipeStep:
    """The language-first recipe's step as minclip.train runs it, on `batches` batches of 128 scenes of its stream
    (drawn from the committed sample): `run(s, mark)` makes batch s and takes the step, calling `mark()` after
    each of the four PARTS. benchmarks/bench_compile.py runs the same step with its towers compiled."""

    def __init__(self, batches: int):
        self.recipe = RECIPES["language-first"]
        self.model = new_model(model_config("cpu", "fashion-scenes"), seed=0).train()
        self.data = FashionScenes.sample("train", n=128 * batches, config=SCENE_STREAMS[self.recipe.scenes](
            resolution=self.model.config.image_resolution))
        self.objective = objective("fashion-scenes", self.model, self.data, self.recipe)
        self.forward, self.config, self.amp = self.objective.module(), TrainConfig.cpu(), cpu_has_bf16()
        self.optimizer = torch.optim.AdamW(param_groups(self.model, self.config.weight_decay), lr=1e-4,
                                           betas=(0.9, 0.98), eps=1e-6, foreach=True)  # as minclip.train

    def run(self, s: int, mark=lambda: None) -> None:
        batch = collate([self.data[i] for i in range(128 * s, 128 * (s + 1))])
        mark()
        self.objective.set_step(s)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.amp):
            loss = self.objective.loss(self.forward, batch, lambda x, made_here=True: x)
        mark()
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        mark()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)
        self.optimizer.step()
        self.objective.after_step()
        mark()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (default 2, as shipped)")
    parser.add_argument("--steps", type=int, default=40, help="timed steps (default 40, after 5 untimed)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)  # as minclip.train does on a CPU
    warm = 5
    step = RecipeStep(args.steps + warm)
    recipe, model, config, amp = step.recipe, step.model, step.config, step.amp
    times = {part: [] for part in PARTS}
    for s in range(args.steps + warm):
        clock = [time.perf_counter()]
        step.run(s, lambda clock=clock: clock.append(time.perf_counter()))
        if s >= warm:
            for part, start, end in zip(PARTS, clock, clock[1:]):
                times[part].append(1000 * (end - start))
    medians = {part: statistics.median(t) for part, t in times.items()}
    total = sum(medians.values())
    print(f"a step of the language-first recipe, {args.threads} threads, bf16 autocast: {amp}, "
          f"{allocator_name()}, median of {args.steps} steps")
    for part in PARTS:
        print(f"  {part:<9}{medians[part]:7.1f} ms  {medians[part] / total:5.1%}")
    print(f"  {'step':<9}{total:7.1f} ms  ({recipe.max_steps} steps: {total * recipe.max_steps / 1000:.0f} s)")

    updates = {name: torch.optim.AdamW(param_groups(model, config.weight_decay), lr=1e-4, betas=(0.9, 0.98),
                                       eps=1e-6, **kwargs)
               for name, kwargs in (("one tensor at a time", {"foreach": False}), ("foreach", {"foreach": True}),
                                    ("fused", {"fused": True}))}
    spent = {name: [] for name in updates}
    for _ in range(5):  # interleaved rounds of 20 updates each, on the last step's gradients
        for name, update in updates.items():
            start = time.perf_counter()
            for _ in range(20):
                update.step()
            spent[name].append(1000 * (time.perf_counter() - start) / 20)
    default, foreach, fused = (statistics.median(spent[name]) for name in updates)
    print(f"AdamW update: one tensor at a time {default:.1f} ms, foreach (minclip.train) {foreach:.1f} ms, ratio "
          f"{default / foreach:.2f}x; fused {fused:.1f} ms, ratio {default / fused:.2f}x")


if __name__ == "__main__":
    main()
