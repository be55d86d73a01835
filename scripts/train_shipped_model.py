"""Train a model minclip ships and record how it was made; or re-measure a shipped model's figures.

Run from the repository root on a quiet machine (it needs the full Fashion-MNIST: `make data`):

    .venv/bin/python scripts/train_shipped_model.py --model fashion-scenes-cpu   # captioned scenes (chapter 6)
    .venv/bin/python scripts/train_shipped_model.py --model fashion-mnist-cpu    # captions made from labels
    .venv/bin/python scripts/train_shipped_model.py --model NAME --evaluate-only # re-measure the stored weights
    .venv/bin/python scripts/train_shipped_model.py --word-order 32  # the scenes recipe plus the word-order term
    .venv/bin/python scripts/train_shipped_model.py --text-steps 600 --word-order 32 --scenes binding  # language first
    .venv/bin/python scripts/train_shipped_model.py ... --max-steps N --record PATH  # a variant, N steps in all
    .venv/bin/python scripts/train_shipped_model.py ... --scene-settings '{"shading": [0.15, 0.55]}' --record PATH
    .venv/bin/python scripts/train_shipped_model.py ... --word-order-weight 1 --word-order-every 2 --seed 1 --record P

--word-order N trains the scenes model as `python -m minclip.train --dataset fashion-scenes --word-order N` does
(minclip.word_order: N converse triples a step teach the text tower word order). That model is not shipped: its
weights go to runs/, its record to data/word-order.json. With --text-steps N (and --scenes binding), the
language-first recipe: the text tower alone learns word order for N steps first (minclip.train_cli.text_first),
then both towers train on the binding stream; not shipped either, its record goes to data/language-first.json.
Every scenes record has the text tower's word order too (converse over swap on 500 held-out sentences).

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
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from minclip.data import load_fashion_mnist  # noqa: E402
from minclip.datasets import collate  # noqa: E402
from minclip.load import load, save_checkpoint  # noqa: E402
from minclip.model import CLIP  # noqa: E402
from minclip.resources import asset  # noqa: E402
from minclip.scenes import FashionScenes, SceneConfig  # noqa: E402
from minclip.tasks import build_tasks, evaluate_suite, plural_query_precision  # noqa: E402
from minclip.train import new_model, train, uses_autocast  # noqa: E402
from minclip.train_cli import (  # noqa: E402
    SCENE_STREAMS,
    SCENES_PER_EPOCH,
    WORD_ORDER_WEIGHT,
    build_datasets,
    model_config,
    objective,
    parse_fraction,
    schedule,
    text_first,
)
from minclip.word_order import TEXT_STAGE_LR, TRIPLE_COLOURS, converse_over_swap, converse_triples  # noqa: E402
from minclip.zeroshot import zero_shot_classifier, zero_shot_eval  # noqa: E402
from scripts.records import git_commit, machine_name, write_record  # noqa: E402

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
    parser.add_argument("--word-order", type=int, default=0, metavar="N",
                        help="fashion-scenes-cpu plus N word-order triples a step (not shipped: data/word-order.json)")
    parser.add_argument("--text-steps", type=int, default=0, metavar="N",
                        help="fashion-scenes-cpu after N steps of the text tower alone (not shipped: "
                        "data/language-first.json)")
    parser.add_argument("--word-order-weight", type=float, default=WORD_ORDER_WEIGHT, metavar="W",
                        help="the word-order term's weight (as minclip.train's flag)")
    parser.add_argument("--word-order-every", type=int, default=1, metavar="K",
                        help="the word-order term on every K-th step only (as minclip.train's flag)")
    parser.add_argument("--triple-colours", type=parse_fraction, default=TRIPLE_COLOURS, metavar="P",
                        help="how often the word-order sentences name a colour (as minclip.train's flag)")
    parser.add_argument("--scenes", default="shipped", choices=sorted(SCENE_STREAMS),
                        help="the scene stream (minclip.train_cli.SCENE_STREAMS)")
    parser.add_argument("--scene-settings", type=json.loads, default=None, metavar="JSON",
                        help="SceneConfig fields over --scenes' preset, e.g. '{\"shading\": [0.15, 0.55]}' (a "
                        "variant; give --record)")
    parser.add_argument("--seed", type=int, default=SEED, help=f"a variant's training seed (default {SEED}, as the "
                        "shipped models; the figures are measured on the same test scenes whatever the seed)")
    parser.add_argument("--max-steps", type=int, default=None, metavar="N",
                        help="a shorter schedule: N steps, the cosine ending there (a variant; give --record)")
    parser.add_argument("--evaluate-only", action="store_true",
                        help="re-measure the stored weights; update the JSON record beside them")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    dataset = MODELS[args.model]
    variant = args.word_order or args.text_steps or args.scenes != "shipped" or args.scene_settings
    if variant and (dataset != "fashion-scenes" or args.evaluate_only or min(args.word_order, args.text_steps) < 0):
        parser.error("--word-order N, --text-steps N (N >= 1) and --scenes train a fashion-scenes-cpu variant; not "
                     "with --evaluate-only")
    suffix = "+language-first" if args.text_steps else "+word-order" if args.word_order else f"+{args.scenes}-scenes"
    name = f"{args.model}{suffix}" if variant else args.model
    default_out = REPO / "runs" / name / "model.safetensors" if variant else asset(f"models/{name}.safetensors")
    out = Path(args.out) if args.out else default_out
    record_path = Path(args.record) if args.record else \
        REPO / "data" / f"{suffix[1:]}.json" if variant else out.with_suffix(".json")
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
    if (args.word_order_weight != WORD_ORDER_WEIGHT or args.triple_colours != TRIPLE_COLOURS
            or args.word_order_every != 1) and (not (args.word_order or args.text_steps) or not args.record
                                                or args.word_order_weight <= 0 or args.word_order_every < 1):
        parser.error("--word-order-weight W (W > 0), --word-order-every K (K >= 1) and --triple-colours P change a "
                     "word-order variant; give --word-order or --text-steps, and --record")
    if args.seed != SEED and (not variant or not args.record):
        parser.error("--seed S trains a variant with another seed; name its --record")
    if args.max_steps is not None and (args.max_steps < 1 or not variant or not args.record):
        parser.error("--max-steps N (N >= 1) shortens a variant's schedule; name its --record")
    settings = args.scene_settings or {}
    if settings and (not isinstance(settings, dict) or not args.record):
        parser.error("--scene-settings takes a JSON object of SceneConfig fields, and a --record for the variant")
    try:  # checked before any training: the same stream as build_datasets makes, these fields over the preset's
        stream = SCENE_STREAMS[args.scenes](resolution=model_config("cpu", dataset).image_resolution, **settings)
    except (TypeError, ValueError) as err:
        parser.error(f"--scene-settings: {err}")
    config = schedule("cpu", dataset, device="cpu", seed=args.seed, max_steps=args.max_steps)
    started = time.perf_counter()
    model = new_model(model_config("cpu", dataset), config.seed)
    train_set = (FashionScenes("train", n=SCENES_PER_EPOCH, config=stream, seed=config.seed) if settings
                 else build_datasets(dataset, model.config.image_resolution, config.seed, args.scenes)[0])
    clock = time.perf_counter()
    if args.text_steps:
        text_first(model, train_set, args.text_steps, config, progress=False, colour_p=args.triple_colours)
    text_seconds = time.perf_counter() - clock
    history = train(model, train_set, config, out.parent if variant else REPO / "runs" / name,  # last.pt beside
                    objective=objective(dataset, model, train_set, args.word_order, config.seed,
                                        args.word_order_weight, args.triple_colours, args.word_order_every))
    train_seconds = time.perf_counter() - started

    out.parent.mkdir(parents=True, exist_ok=True)
    half = CLIP(model.config, tokenizer=model.tokenizer)
    half.load_state_dict(model.state_dict())
    save_checkpoint(half.half(), out, metadata={"name": name})
    shipped, _ = load(out, device="cpu")  # the stored float16 weights, back in float32
    flags = "".join(f" --{flag} {value}" for flag, value, given in (
        ("text-steps", args.text_steps, args.text_steps), ("word-order", args.word_order, args.word_order),
        ("word-order-weight", args.word_order_weight, args.word_order_weight != WORD_ORDER_WEIGHT),
        ("word-order-every", args.word_order_every, args.word_order_every != 1),
        ("triple-colours", args.triple_colours, args.triple_colours != TRIPLE_COLOURS),
        ("scenes", args.scenes, args.scenes != "shipped"), ("max-steps", args.max_steps, args.max_steps),
        ("seed", args.seed, args.seed != SEED)) if given)
    if settings:
        flags += f", with SceneConfig fields {json.dumps(settings)} over the --scenes preset (no minclip.train flag)"
    record = {
        "name": name,
        "command": " ".join(["python scripts/train_shipped_model.py", *sys.argv[1:]]),
        "same_as": f"python -m minclip.train --dataset {dataset}{flags} (then stored in float16)",
        "git_commit": git_commit(),
        "model_config": model.config.to_dict(),
        "train_config": config.to_dict(),
        "bf16_autocast": uses_autocast(config, torch.device("cpu")),
        "tokenizer": "BPETokenizer.train(minclip/assets/captions.txt, vocab_size=2048)",
        "training_data": {"fashion-scenes": "Fashion Scenes (minclip.scenes) from the Fashion-MNIST train split, "
                                            f"{SCENES_PER_EPOCH:,} scenes, captions from minclip.scene_text",
                          "fashion-mnist": "Fashion-MNIST train split (60,000 images), captions from "
                                           "minclip.captions"}[dataset],
        "scenes": args.scenes if dataset == "fashion-scenes" else None,
        **({"scene_settings": settings} if settings else {}),
        "text_stage": {"steps": args.text_steps, "triples_per_step": 128, "lr": TEXT_STAGE_LR,
                       "colour_p": args.triple_colours,
                       "what": "minclip.train_cli.text_first",
                       "seconds": round(text_seconds, 1)} if args.text_steps else None,
        "objective": {"clip": "minclip.train.ContrastiveStep", **({"word_order": {
            "triples_per_step": args.word_order, "weight": args.word_order_weight, "colour_p": args.triple_colours,
            "every": args.word_order_every,
            "what": "minclip.word_order"}}
            if args.word_order else {})},
        "train_seconds": round(train_seconds, 1),
        "history": history,
        **measure(shipped, dataset),
        "machine": {"cpu": machine_name("cpu"), "threads": args.threads,
                    "torch": torch.__version__, "python": platform.python_version()},
        "date": time.strftime("%Y-%m-%d"),
    }
    write_record(record_path, record)
    print(json.dumps({"train_seconds": record["train_seconds"], **record["zero_shot_test"]}))
    print(json.dumps(record["suite"], indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
