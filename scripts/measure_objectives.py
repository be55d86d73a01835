"""Zero-shot accuracy against images seen, for four objectives on the same encoder and data (the paper's figure 2).

Radford et al. 2021, section 2.3 and figure 2: with the same image encoder, a transformer language model that
predicts the caption learnt zero-shot ImageNet classification slowest, a predictor of the caption's bag of words
about 3x faster, and the contrastive objective (with a bag-of-words text encoder) about 4x faster again. Here the
three, from minclip.objectives, and CLIP itself (the contrastive objective with its text transformer), each on
the scenes model's configuration (`CLIPConfig.cpu(image_resolution=64)`: the same ModifiedResNet, initialised
from the same seed; the language model reuses CLIP's text transformer), the same Fashion Scenes stream, batch
size, optimiser and schedule, for `--steps` steps. Each is evaluated zero-shot at geometrically spaced steps
(every epoch of `--every` steps whose number is a power of two) on Fashion-MNIST in its own class names (1,000
test images) and the suite's seven scene tasks (`--n` scenes each), with one prompt template, "a photo of {}.":
the contrastive models by cosine similarity, the predictive ones by the likelihood of each class's prompt
(minclip.objectives.score_classes). The efficiency ratios are minclip.objectives.efficiency.

    .venv/bin/python scripts/measure_objectives.py   # writes data/objectives.json (needs `make data`; about 20 minutes)
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from minclip.model import CLIPConfig  # noqa: E402
from minclip.objectives import (  # noqa: E402
    BagOfWordsCLIP,
    BagOfWordsPredictor,
    CaptionLM,
    efficiency,
    evaluate_objective,
    objective_step,
)
from minclip.scenes import FashionScenes, SceneConfig  # noqa: E402
from minclip.train import TrainConfig, new_model, train  # noqa: E402
from scripts.records import finish_record, test_split_suite  # noqa: E402

# the paper's figure 2 has the first three; its contrastive model read captions as bags of words
OBJECTIVES = {"language model": CaptionLM, "bag of words": BagOfWordsPredictor,
              "contrastive, bag of words": BagOfWordsCLIP.from_clip, "contrastive": lambda clip: clip}
TEMPLATES = ("a photo of {}.",)
# (faster, slower, the paper's factor): its figure 2 has 3x and 4x, so about 12x end to end; no figure compares
# its contrastive text encoders
PAIRS = [("bag of words", "language model", "3x"), ("contrastive, bag of words", "bag of words", "4x"),
         ("contrastive, bag of words", "language model", "12x"), ("contrastive", "contrastive, bag of words", "")]


def suite_mean(point: dict) -> float:
    """The mean top-1 over the seven scene tasks of an evaluation point (Fashion-MNIST is reported apart)."""
    scene_tasks = [k for k in point if k not in ("fashion-mnist", "step", "images", "seconds")]
    return sum(point[k] for k in scene_tasks) / len(scene_tasks)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(REPO / "data" / "objectives.json"))
    parser.add_argument("--steps", type=int, default=1200)
    parser.add_argument("--every", type=int, default=75)
    parser.add_argument("--n", type=int, default=150, help="scenes per task")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    if args.steps % args.every:
        parser.error("--steps must be a multiple of --every")
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    tasks = test_split_suite(n=args.n, fashion_mnist_images=1000)
    config = CLIPConfig.cpu(image_resolution=64)
    train_config = TrainConfig.cpu(device="cpu", epochs=args.steps // args.every)
    runs = {}
    for name, make in OBJECTIVES.items():
        model = make(new_model(config, seed=0))
        data = FashionScenes("train", n=args.every * train_config.batch_size, config=SceneConfig(resolution=64))
        points, clock, epochs = [], time.perf_counter(), [0]

        def evaluate(m, points=points, clock=clock, epochs=epochs):
            epochs[0] += 1
            if epochs[0] & (epochs[0] - 1) == 0:  # a power of two
                rows = evaluate_objective(m, tasks, TEMPLATES)
                points.append({"step": epochs[0] * args.every, "images": epochs[0] * args.every
                               * train_config.batch_size, **{r["task"]: round(r["top1"], 4) for r in rows},
                               "seconds": round(time.perf_counter() - clock, 1)})
            return {}

        history = train(model, data, train_config, None, evaluate=evaluate, progress=False,
                        objective=objective_step(model))
        for point in points:
            point["suite mean"] = round(suite_mean(point), 4)
        runs[name] = {"parameters": sum(p.numel() for p in model.parameters() if p.grad is not None),
                      "final loss": round(history[-1]["loss"], 4), "points": points}
        last = points[-1]
        print(f"{name}: {runs[name]['parameters']:,} trained parameters, fashion-mnist "
              f"{100 * last['fashion-mnist']:.1f}%, suite mean {100 * last['suite mean']:.1f}%, "
              f"{last['seconds']:.0f} s", flush=True)
    ratios = []
    for faster, slower, paper in PAIRS:
        row = {"faster": faster, "slower": slower, "paper": paper}
        for measure in ("fashion-mnist", "suite mean"):
            a, b = ([(p["images"], p[measure]) for p in runs[name]["points"]] for name in (faster, slower))
            row[measure] = round(efficiency(a, b), 2)
        ratios.append(row)
        print(f"{faster} over {slower}: {row['fashion-mnist']}x F-MNIST, {row['suite mean']}x suite (paper {paper})")
    record = {
        "settings": {"objectives": list(OBJECTIVES), "steps": args.steps, "every": args.every,
                     "evaluated at": "epochs whose number is a power of two", "templates": list(TEMPLATES),
                     "model_config": config.to_dict(), "train_config": train_config.to_dict(), "seed": 0,
                     "evaluation": f"build_tasks(Fashion-MNIST test, n={args.n}, seed 0); fashion-mnist on 1,000 "
                     "test images (torch.randperm seed 0); suite mean: the seven scene tasks",
                     "seconds_include": "training and the evaluations, per objective"},
        "runs": runs,
        "efficiency": ratios,  # times fewer images `faster` needs to the lower of the two best accuracies
        "paper_source": "Radford et al. 2021, figure 2 (zero-shot ImageNet against images processed)",
    }
    finish_record(args.out, "measure_objectives.py", record, started, args.threads)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
