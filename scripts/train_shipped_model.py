"""Train a model minclip ships and record how it was made; or re-measure a shipped model's figures.

Run from the repository root on a quiet machine (it needs the full Fashion-MNIST: `make data`):

    .venv/bin/python scripts/train_shipped_model.py --model fashion-scenes-cpu   # captioned scenes (chapter 6)
    .venv/bin/python scripts/train_shipped_model.py --model fashion-mnist-cpu    # captions made from labels
    .venv/bin/python scripts/train_shipped_model.py --model NAME --evaluate-only # re-measure the stored weights
    .venv/bin/python scripts/train_shipped_model.py --recipe plain --record data/plain-recipe.json  # a variant
    .venv/bin/python scripts/train_shipped_model.py --word-order-weight 3 --seed 1 --record PATH   # a variant
    .venv/bin/python scripts/train_shipped_model.py ... --scene-settings '{"shading": [0.15, 0.55]}' --record PATH

fashion-scenes-cpu is trained by the recipe `python -m minclip.train --dataset fashion-scenes` uses by default
(minclip.recipes: language first, then both towers with the word-order term). The same flags as minclip.train
(--recipe NAME and one per Recipe field) and --seed or --scene-settings (SceneConfig fields over the stream's
preset, no minclip.train flag) train a variant: it is not shipped, its weights go to runs/<record's name>/ (or
--out), its JSON record to --record. Every scenes record has the text tower's word order too (converse over swap
on 500 held-out sentences).

It trains the `cpu` preset on the cpu schedule exactly as `python -m minclip.train --dataset DATASET` does
(minclip.train_cli.schedule and build_datasets: the scenes model in bf16 where the CPU has it), stores the
weights in float16 (half the size; every figure is measured on the stored weights), and writes a JSON record
beside them: the command, the settings, the timings, the machine, the zero-shot task suite (minclip.tasks: the real
Fashion-MNIST test set in the data set's own class names, colour, count, position, size, seen and held-out
colour x category, relation binding) and plural-query precision@10.
"""

import argparse
import json
import platform
import random
import shlex
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from minclip.allocator import allocator_name, use_tcmalloc  # noqa: E402
from minclip.data import load_fashion_mnist  # noqa: E402
from minclip.datasets import collate  # noqa: E402
from minclip.load import load, save_checkpoint  # noqa: E402
from minclip.model import CLIP  # noqa: E402
from minclip.recipes import DEFAULT_RECIPE, RECIPES, SCENE_STREAMS, Recipe  # noqa: E402
from minclip.resources import asset  # noqa: E402
from minclip.scenes import FashionScenes, SceneConfig  # noqa: E402
from minclip.tasks import build_tasks, evaluate_suite, plural_query_precision  # noqa: E402
from minclip.train import new_model, train, uses_autocast  # noqa: E402
from minclip.train_cli import (  # noqa: E402
    SCENES_PER_EPOCH,
    add_recipe_flags,
    build_datasets,
    model_config,
    objective,
    recipe_from,
    schedule,
    text_first,
)
from minclip.word_order import TEXT_STAGE_LR, converse_over_swap, converse_triples  # noqa: E402
from minclip.zeroshot import zero_shot_classifier, zero_shot_eval  # noqa: E402
from scripts.records import git_commit, host_details, machine_name, write_record  # noqa: E402

MODELS = {"fashion-scenes-cpu": "fashion-scenes", "fashion-mnist-cpu": "fashion-mnist",
          "fashion-mnist-gpu": "fashion-mnist"}  # (the GPU model is trained by scripts/gpu_figures.py)
SEED = 0  # TrainConfig's default seed: the weights, the data order and the captions
PAPER_PROMPT = ("a photo of {}.",)  # the class names carry their article: "a photo of a trouser."
TASK_IMAGES = 1000  # images per scene task (the fashion-mnist task uses all 10,000 test images)


def suite(model) -> dict:
    """The task table and plural-query precision@10 over 1,000 test scenes, all drawn from test items."""
    images, labels = (torch.as_tensor(a) for a in load_fashion_mnist("test"))
    resolution = model.config.image_resolution
    rows = evaluate_suite(model, build_tasks((images, labels), n=TASK_IMAGES, resolution=resolution))
    config = SceneConfig(resolution=resolution, twins=0.0, noise=0.0)  # no mirror twins in a gallery
    gallery = FashionScenes("test", n=1000, images=images, labels=labels, config=config)
    pixels = torch.stack([gallery[i][0] for i in range(len(gallery))])
    categories = [{item["category"] for item in gallery.scene(i)["items"]} for i in range(len(gallery))]
    return {"tasks": [{**r, "top1": round(r["top1"], 4)} for r in rows],
            "plural_queries": plural_query_precision(model, pixels, categories)}


def measure(model, dataset: str) -> dict:
    """Zero-shot figures of a model: the suite, and Fashion-MNIST top-1/top-5 with the prompts its training
    names (build_datasets: the scenes model with the data set's own names, the label model with its own)."""
    _, test_set, classnames, templates = build_datasets(dataset, model.config.image_resolution, SEED)
    loader = torch.utils.data.DataLoader(test_set, batch_size=256, collate_fn=collate)
    own = zero_shot_eval(model, loader, zero_shot_classifier(model, classnames, templates), progress=False)
    figures = {"zero_shot_test": {**own, "classnames": list(classnames), "templates": list(templates),
                                  "weights": "float16 as stored"}, "suite": suite(model)}
    if dataset == "fashion-scenes":  # also the paper's one prompt, "a photo of a {}.", as a new user would try it
        paper = zero_shot_eval(model, loader, zero_shot_classifier(model, classnames, PAPER_PROMPT), progress=False)
        figures["zero_shot_paper_prompt"] = {**paper, "templates": list(PAPER_PROMPT)}
        figures["text_word_order"] = text_word_order(model)
    return figures


def text_word_order(model) -> dict:
    """The text tower's word order: how often a caption sits nearer its converse than its swap, on 500 sentences
    about test-split items (minclip.word_order; chance 50%, a bag of words less)."""
    labels = load_fashion_mnist("test")[1].numpy()
    triples = converse_triples(labels, "test", random.Random(7), 500)
    return {"converse_over_swap": round(converse_over_swap(model, triples), 4), "held_out_triples": len(triples)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="fashion-scenes-cpu", choices=sorted(MODELS))
    parser.add_argument("--out", default=None, help="where the weights go (default: the shipped file)")
    parser.add_argument("--record", default=None, help="where the JSON record goes (default: beside the weights; "
                        "data/word-order.json with --word-order)")
    parser.add_argument("--threads", type=int, default=2)
    add_recipe_flags(parser)  # minclip.train's own flags: --recipe NAME and each field of minclip.recipes.Recipe
    parser.add_argument("--scene-settings", type=json.loads, default=None, metavar="JSON",
                        help="SceneConfig fields over --scenes' preset, e.g. '{\"shading\": [0.15, 0.55]}' (a "
                        "variant; give --record)")
    parser.add_argument("--seed", type=int, default=SEED, help=f"a variant's training seed (default {SEED}, as the "
                        "shipped models; the figures are measured on the same test scenes whatever the seed)")
    parser.add_argument("--max-steps", type=int, default=None, metavar="N",
                        help="a shorter (or longer) schedule: N steps, the cosine ending there (a variant)")
    parser.add_argument("--evaluate-only", action="store_true",
                        help="re-measure the stored weights; update the JSON record beside them")
    args = parser.parse_args()
    use_tcmalloc()  # started again under tcmalloc where it is installed: the same weights, sooner (minclip.allocator)
    torch.set_num_threads(args.threads)
    dataset = MODELS[args.model]
    settings = args.scene_settings or {}
    given = [name for name in ("recipe", *Recipe.__dataclass_fields__) if getattr(args, name, None) is not None]
    if (given or settings or args.seed != SEED) and (dataset != "fashion-scenes" or args.evaluate_only):
        parser.error("--recipe, its flags, --scene-settings, --seed and --max-steps train a fashion-scenes-cpu "
                     "variant; not with --evaluate-only")
    try:
        recipe = recipe_from(args) if dataset == "fashion-scenes" else None
    except ValueError as err:  # --max-steps 0, say: the Recipe names the field
        parser.error(str(err))
    variant = dataset == "fashion-scenes" and (recipe != RECIPES[DEFAULT_RECIPE] or settings or args.seed != SEED)
    if variant and not args.record:
        parser.error("a variant of the shipped recipe needs --record PATH (its JSON record; the weights go to "
                     "runs/<record's name>/ unless --out says where)")
    if settings and not isinstance(settings, dict):
        parser.error("--scene-settings takes a JSON object of SceneConfig fields")
    name = Path(args.record).stem if variant else args.model
    default_out = REPO / "runs" / name / "model.safetensors" if variant else asset(f"models/{name}.safetensors")
    out = Path(args.out) if args.out else default_out
    record_path = Path(args.record) if args.record else out.with_suffix(".json")
    if args.evaluate_only:
        shipped, _ = load(out, device="cpu")
        record = json.loads(record_path.read_text()) if record_path.exists() else {"name": args.model}
        record.update(measure(shipped, dataset))
        record["measured"] = {"date": time.strftime("%Y-%m-%d"), "cpu": machine_name("cpu"),
                              "command": f"python scripts/train_shipped_model.py --model {args.model} --evaluate-only"}
        write_record(record_path, record)
        print(json.dumps(record["zero_shot_test"]), json.dumps(record["suite"]["tasks"]))
        return 0
    if args.model.endswith("-gpu"):
        parser.error(f"{args.model} is trained by scripts/gpu_figures.py on a GPU; here only --evaluate-only")
    try:  # checked before any training: the same stream as build_datasets makes, these fields over the preset's
        stream = SCENE_STREAMS[recipe.scenes if recipe else "plain"](
            resolution=model_config("cpu", dataset).image_resolution, **settings)
    except (TypeError, ValueError) as err:
        parser.error(f"--scene-settings: {err}")
    config = schedule("cpu", dataset, device="cpu", seed=args.seed, max_steps=recipe.max_steps if recipe else None)
    commit = git_commit()  # before training: the weights this command writes would make the checkout read -dirty
    started = time.perf_counter()
    model = new_model(model_config("cpu", dataset), config.seed)
    train_set = (FashionScenes("train", n=SCENES_PER_EPOCH, config=stream, seed=config.seed) if settings
                 else build_datasets(dataset, model.config.image_resolution, config.seed,
                                     recipe.scenes if recipe else "plain")[0])
    recipe = recipe or RECIPES["plain"]  # fashion-mnist: CLIP's loss alone
    clock = time.perf_counter()
    if recipe.text_steps:
        text_first(model, train_set, recipe, config, progress=False)
    text_seconds = time.perf_counter() - clock
    history = train(model, train_set, config, out.parent if variant else REPO / "runs" / name,  # last.pt beside
                    objective=objective(dataset, model, train_set, recipe, config.seed))
    train_seconds = time.perf_counter() - started

    out.parent.mkdir(parents=True, exist_ok=True)
    half = CLIP(model.config, tokenizer=model.tokenizer)
    half.load_state_dict(model.state_dict())
    save_checkpoint(half.half(), out, metadata={"name": name})
    shipped, _ = load(out, device="cpu")  # the stored float16 weights, back in float32
    flags = "".join(f" {flag}" for flag in recipe.flags(args.recipe or DEFAULT_RECIPE)) if dataset == \
        "fashion-scenes" else ""
    flags += f" --seed {args.seed}" if args.seed != SEED else ""
    if settings:
        flags += f", with SceneConfig fields {json.dumps(settings)} over the --scenes preset (no minclip.train flag)"
    record = {
        "name": name,
        "command": " ".join(["python scripts/train_shipped_model.py", *map(shlex.quote, sys.argv[1:])]),
        "same_as": f"python -m minclip.train --dataset {dataset}{flags} (then stored in float16)",
        "git_commit": commit,
        "model_config": model.config.to_dict(),
        "train_config": config.to_dict(),
        "bf16_autocast": uses_autocast(config, torch.device("cpu")),
        "tokenizer": "BPETokenizer.train(minclip/assets/captions.txt, vocab_size=2048)",
        "training_data": {"fashion-scenes": "Fashion Scenes (minclip.scenes) from the Fashion-MNIST train split, "
                                            f"{SCENES_PER_EPOCH:,} scenes, captions from minclip.scene_text",
                          "fashion-mnist": "Fashion-MNIST train split (60,000 images), captions from "
                                           "minclip.captions"}[dataset],
        "scenes": recipe.scenes if dataset == "fashion-scenes" else None,
        "recipe": {"name": args.recipe or DEFAULT_RECIPE, **recipe.to_dict()} if dataset == "fashion-scenes" else None,
        **({"scene_settings": settings} if settings else {}),
        "text_stage": {"steps": recipe.text_steps, "triples_per_step": 128, "lr": TEXT_STAGE_LR,
                       "colour_p": recipe.triple_colours,
                       "what": "minclip.train_cli.text_first",
                       "seconds": round(text_seconds, 1)} if recipe.text_steps else None,
        "objective": {"clip": "minclip.train.ContrastiveStep", **({"word_order": {
            "triples_per_step": recipe.word_order, "weight": recipe.word_order_weight,
            "colour_p": recipe.triple_colours, "every": recipe.word_order_every,
            "what": "minclip.word_order"}}
            if recipe.word_order else {})},
        "train_seconds": round(train_seconds, 1),
        "history": history,
        **measure(shipped, dataset),
        "machine": {"cpu": machine_name("cpu"), "host": host_details(), "threads": args.threads,
                    "allocator": allocator_name(), "torch": torch.__version__, "python": platform.python_version()},
        "date": time.strftime("%Y-%m-%d"),
    }
    write_record(record_path, record)
    print(json.dumps({"train_seconds": record["train_seconds"], **record["zero_shot_test"]}))
    print(json.dumps(record["suite"], indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
