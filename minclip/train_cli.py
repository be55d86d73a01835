"""The command line of minclip.train: data sets by name, settings as flags, checks before the first step.

    python -m minclip.train --preset cpu --dataset fashion-mnist --out runs/cpu   (the shipped schedule)
    python -m minclip.train --schedule gpu --out runs/gpu                         (TrainConfig.gpu())
    torchrun --nproc-per-node 8 -m minclip.train --preset rn50 ...                (batch size is per process)
    python -m minclip.train --train-data PATH                                      (your own images)
    python -m minclip.train --dataset fashion-scenes   (the shipped fashion-scenes-cpu: minclip.recipes)
    python -m minclip.train --dataset fashion-scenes --recipe plain   (CLIP's loss alone: no binding, chapter 7)

Every setting is checked (numbers, the output folder, every image file, the batch size against the data) before
any training step is spent; errors are one sentence saying what to change.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from dataclasses import replace
from pathlib import Path

import torch
import torch.distributed as dist

from minclip import datasets, scenes
from minclip.captions import CLASSNAMES, EVAL_TEMPLATES
from minclip.data import FASHION_MNIST_CLASSES
from minclip.image_folder import ImageCaptionFolder
from minclip.load import save_checkpoint
from minclip.model import PRESETS, CLIPConfig
from minclip.recipes import DEFAULT_RECIPE, RECIPES, SCENE_STREAMS, Recipe
from minclip.scene_text import EVAL_FRAMES, article
from minclip.train import (
    SCHEDULES,
    CheckpointError,
    ContrastiveStep,
    TrainConfig,
    TrainingDiverged,
    TrainingInterrupted,
    check_output_folder,
    new_model,
    pick_device,
    train,
    uses_autocast,
)
from minclip.word_order import WordOrderStep, teach_word_order
from minclip.zeroshot import encode_images, encode_texts, retrieval_recall, zero_shot_classifier, zero_shot_eval

DATASETS = ("fashion-scenes", "fashion-mnist", "fashion-scenes-sample", "fashion-mnist-sample")
# Fashion Scenes for the cpu preset: 64x64 scenes (a 2x2 grid for the attention pool; a step takes about half
# the time of a 128x128 one) and 307,200 scenes an epoch, so TrainConfig.cpu()'s one epoch is 2,400 steps of 128
# (the plain recipe; the language-first recipe stops at 1,900), in bf16 where the CPU has it (1.5 to 1.8 times as
# fast as float32; see schedule). The plain recipe: 2,400 steps, not 2,000: Fashion-MNIST in its own names 85.2%
# to 86.0% over three seeds, against 83.9% to 84.3% with 2,000 (data/seeds.json at commit c5f4790)
SCENES_RESOLUTION, SCENES_PER_EPOCH = 64, 307_200


def model_config(preset: str, dataset: str) -> CLIPConfig:
    """The preset's model for a --dataset: the cpu preset reads Fashion Scenes at SCENES_RESOLUTION."""
    if preset == "cpu" and dataset.startswith("fashion-scenes"):
        return CLIPConfig.cpu(image_resolution=SCENES_RESOLUTION)
    return PRESETS[preset]()


def schedule(name: str, dataset: str, **overrides) -> TrainConfig:
    """The --schedule's TrainConfig for a --dataset: on the cpu schedule Fashion Scenes trains under bf16 autocast
    where the CPU has bf16 instructions (TrainConfig.cpu_amp), which buys its 2,400 steps in about ten minutes,
    and warms up over 200 steps, not 50: with 50, how well a run learnt colour and category depended on its seed
    (scripts/measure_seeds.py)."""
    scenes_on_cpu = ({"cpu_amp": True, "warmup_steps": 200} if name == "cpu" and dataset.startswith("fashion-scenes")
                     else {})
    return SCHEDULES[name](**{**scenes_on_cpu, **overrides})


def objective(dataset: str, model, train_set, recipe: Recipe, seed: int = 0):
    """What a step computes for a --dataset: on Fashion Scenes, CLIP's loss plus the recipe's word-order term
    (minclip.word_order: `recipe.word_order` converse triples, weighted `recipe.word_order_weight`, on every
    `recipe.word_order_every`-th step; 0 triples: CLIP's loss alone), elsewhere CLIP's loss."""
    if dataset.startswith("fashion-scenes") and recipe.word_order:
        return WordOrderStep(model, train_set, triples=recipe.word_order, weight=recipe.word_order_weight, seed=seed,
                             colour_p=recipe.triple_colours, every=recipe.word_order_every)
    return ContrastiveStep(model)


def build_datasets(name: str, resolution: int, seed: int, stream: str = "plain"):
    """(train set, Fashion-MNIST test set, class prompts, templates) for a --dataset name (Fashion Scenes from the
    SCENE_STREAMS preset `stream`). The scenes model is scored with the data set's own class names and prompt
    frames its captions never used; the label-caption model with its own names and templates (chapter 7).
    "-sample" variants use the committed 1,000 images."""
    sample = name.endswith("-sample")
    test_set = (datasets.FashionMNISTPairs.sample(resolution=resolution, seed=seed) if sample
                else datasets.FashionMNISTPairs("test", resolution=resolution, seed=seed))
    if name.startswith("fashion-scenes"):
        config = SCENE_STREAMS[stream](resolution=resolution)
        train_set = (scenes.FashionScenes.sample("train", n=1000, config=config, seed=seed) if sample
                     else scenes.FashionScenes("train", n=SCENES_PER_EPOCH, config=config, seed=seed))
        return train_set, test_set, [article(c.lower()) for c in FASHION_MNIST_CLASSES], EVAL_FRAMES
    train_set = test_set if sample else datasets.FashionMNISTPairs("train", resolution=resolution, seed=seed)
    return train_set, test_set, CLASSNAMES, EVAL_TEMPLATES


def text_first(model, train_set, recipe: Recipe, config: TrainConfig, progress: bool = True) -> None:
    """--text-steps: before CLIP's steps, the text tower alone learns word order from `recipe.text_steps` batches
    of 128 converse triples (minclip.word_order.teach_word_order: seeded by the run's seed, bf16 where the run is)."""
    device = pick_device(config.device)
    model.to(device)
    teach_word_order(model, train_set, recipe.text_steps, seed=config.seed, amp=uses_autocast(config, device),
                     progress=progress, colour_p=recipe.triple_colours)


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


def parse_fraction(text: str) -> float:
    """An argparse type: a number in [0, 1], else a sentence."""
    value = _number(float, 0, what="a number from 0 to 1")(text)
    if value > 1:
        raise argparse.ArgumentTypeError(f"must be a number from 0 to 1, not {text}")
    return value


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


_RECIPE_FLAGS = ("recipe", *(name for name in Recipe.__dataclass_fields__ if name != "max_steps"))


def add_recipe_flags(parser: argparse.ArgumentParser) -> None:
    """--recipe and one flag per Recipe field (but max_steps, a TrainConfig setting too), each None unless given:
    a given flag overrides the named recipe's value (minclip.recipes)."""
    parser.add_argument("--recipe", default=None, choices=sorted(RECIPES),
                        help=f"fashion-scenes: the named recipe (default {DEFAULT_RECIPE}, the shipped model's; "
                        "plain: CLIP's loss alone for an epoch); the flags below override its values")
    parser.add_argument("--scenes", default=None, choices=sorted(SCENE_STREAMS),
                        help="fashion-scenes: the scene stream; binding: more twins, swapped captions as negatives; "
                        "language-first: binding with varied shading and edges")
    parser.add_argument("--text-steps", type=_number(int, 0, what=_COUNT), default=None, metavar="N",
                        help="fashion-scenes: first N steps of the text tower alone on converse triples, to learn "
                        "word order before the pictures (minclip.word_order)")
    parser.add_argument("--word-order", type=_number(int, 0, what=_COUNT), default=None, metavar="N",
                        help="fashion-scenes: N converse triples a step that teach the text tower word order "
                        "(0: CLIP's loss alone)")
    parser.add_argument("--word-order-weight", type=_number(float, 0, strict=True, what="a number above 0"),
                        default=None, metavar="W", help="fashion-scenes: the word-order term's weight")
    parser.add_argument("--word-order-every", type=_number(int, 1, what=_WHOLE), default=None, metavar="K",
                        help="fashion-scenes: the word-order term on every K-th step only")
    parser.add_argument("--triple-colours", type=parse_fraction, default=None, metavar="P",
                        help="fashion-scenes: how often the word-order sentences name an item's colour (0: never)")


def recipe_from(args: argparse.Namespace) -> Recipe:
    """The Recipe of --recipe (default: the shipped one) with the given flags over it, --max-steps included."""
    base = RECIPES[args.recipe or DEFAULT_RECIPE]
    given = {name: getattr(args, name) for name in (*_RECIPE_FLAGS[1:], "max_steps")
             if getattr(args, name) is not None}
    return replace(base, **given)


def recipe_max_steps(recipe: Recipe, schedule_name: str) -> int | None:
    """The recipe's step count where it was measured, the cpu schedule; the gpu schedule runs all its epochs."""
    return recipe.max_steps if schedule_name == "cpu" else None


def _own_images(parser: argparse.ArgumentParser, path: Path, resolution: int):
    """--train-data: the CSV or folder as an ImageCaptionFolder, every image opened once before training."""
    try:
        data = ImageCaptionFolder(path.expanduser(), resolution=resolution)
        print(f"checking the {len(data):,} images of {path} ...", flush=True)
        data.verify()
    except (FileNotFoundError, ValueError, OSError) as err:
        parser.error(f"--train-data: {err}")
    return data


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m minclip.train",
                                     description="Train a small CLIP (see the book's chapter 6).")
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
    add_recipe_flags(parser)
    parser.add_argument("--device", default=None)
    parser.add_argument("--compile", action="store_true", default=None, help="torch.compile the model (CUDA)")
    parser.add_argument("--no-amp", dest="amp", action="store_false", default=None,
                        help="no bf16 autocast (on CUDA, and on a CPU with --cpu-amp)")
    parser.add_argument("--cpu-amp", action="store_true", default=None,
                        help="bf16 autocast on a CPU with bf16 instructions (fashion-scenes on the cpu schedule: on)")
    args = parser.parse_args(argv)
    scenes_run = not args.train_data and args.dataset.startswith("fashion-scenes")
    given = [flag for flag in _RECIPE_FLAGS if getattr(args, flag) is not None]
    if given and not scenes_run:
        parser.error(f"--{given[0].replace('_', '-')}: the recipes, word-order sentences and scene streams are "
                     "Fashion Scenes' own; use it with --dataset fashion-scenes (or fashion-scenes-sample), or "
                     "leave it out")
    recipe = recipe_from(args) if scenes_run else RECIPES["plain"]
    if scenes_run and args.max_steps is None:
        args.max_steps = recipe_max_steps(recipe, args.schedule)
    config = schedule(args.schedule, "" if args.train_data else args.dataset,
                      **{k: getattr(args, k) for k in TrainConfig.__dataclass_fields__ if getattr(args, k, None)
                         is not None})
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
    model = new_model(model_config(args.preset, "" if args.train_data else args.dataset), config.seed)
    classnames, templates = None, None
    if args.train_data is not None:
        train_set = test_set = _own_images(parser, args.train_data, model.config.image_resolution)
        # zero-shot over the class subfolders with the paper's prompt; no classes: retrieval figures only
        classnames, templates = train_set.classnames, ("a photo of a {}.",)
    else:
        train_set, test_set, classnames, templates = build_datasets(args.dataset, model.config.image_resolution,
                                                                    config.seed, recipe.scenes)
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
        return {**metrics, **retrieval_recall(encode_images(m, images), encode_texts(m, captions))}

    if recipe.text_steps and not args.resume:  # resumed: the checkpoint's text tower has been through it
        try:
            text_first(model, train_set, recipe, config)
        except KeyboardInterrupt:
            print("\ninterrupted in the text stage, before the first CLIP step: nothing was saved; run the command "
                  "again", file=sys.stderr)
            return 130
        except TrainingDiverged as err:
            print(f"error: {err}", file=sys.stderr)
            return 1
    try:
        step = objective("" if args.train_data else args.dataset, model, train_set, recipe, config.seed)
        history = train(model, train_set, config, args.out, resume=args.resume, evaluate=evaluate, objective=step)
    except TrainingInterrupted as err:  # saved; train() printed how to continue
        return 128 + err.signum  # the shell's code for a process stopped by that signal
    except TrainingDiverged as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except CheckpointError as err:  # --resume: a damaged checkpoint, or one of another objective
        parser.error(str(err))
    if not dist.is_initialized() or dist.get_rank() == 0:
        save_checkpoint(model.cpu(), Path(args.out) / "model.safetensors",
                        metadata={"history": json.dumps(history), "train_config": json.dumps(config.to_dict()),
                                  "recipe": json.dumps({k: v for k, v in recipe.to_dict().items()
                                                        if k != "max_steps"})})
        print(json.dumps(history[-1]))
    if dist.is_initialized():
        dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
