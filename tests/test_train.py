"""The training loop: schedule, weight decay groups, learning, exact resume after an interruption, NaN losses,
checkpoints, and the command line on the committed Fashion-MNIST sample."""

import json
import math
from pathlib import Path

import pytest
import torch

import minclip
from minclip.datasets import SyntheticShapes
from minclip.model import CLIP, CLIPConfig
from minclip.resources import asset
from minclip.train import TrainConfig, TrainingDiverged, learning_rate, load_training_state, param_groups, train

TINY = CLIPConfig(embed_dim=32, image_resolution=32, vision_layers=(1, 1, 1, 1), vision_width=8, vision_patch_size=None,
                  context_length=16, transformer_width=32, transformer_heads=1,
                  transformer_layers=1)


def tiny_model(seed=0):
    torch.manual_seed(seed)
    return CLIP(TINY)


def small_config(**kw):
    return TrainConfig(**{"epochs": 2, "batch_size": 8, "lr": 3e-3, "warmup_steps": 2, "device": "cpu", **kw})


class Interrupting(torch.utils.data.Dataset):
    """Wraps a dataset and raises KeyboardInterrupt once, the first time item `at_access` is fetched."""

    def __init__(self, dataset, at_access):
        self.dataset, self.at_access, self.calls = dataset, at_access, 0

    def __len__(self):
        return len(self.dataset)

    def __getitem__(self, i):
        self.calls += 1
        if self.calls == self.at_access:
            raise KeyboardInterrupt
        return self.dataset[i]


class Poisoned(Interrupting):
    """Returns a NaN image from access `at_access` on."""

    def __getitem__(self, i):
        self.calls += 1
        image, caption, label = self.dataset[i]
        return (image * float("nan") if self.calls >= self.at_access else image), caption, label


def test_schedule_and_groups():
    lrs = [learning_rate(s, total=100, warmup=10, base=1.0) for s in range(100)]
    assert lrs[0] == pytest.approx(0.1) and lrs[9] == pytest.approx(1.0) and lrs[10] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(lrs[10:], lrs[11:])) and lrs[-1] < 0.001
    assert learning_rate(55, total=100, warmup=10, base=1.0) == pytest.approx(0.5)
    model = tiny_model()
    decay, no_decay = param_groups(model, 0.1)
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0
    assert all(p.ndim >= 2 for p in decay["params"]) and all(p.ndim < 2 for p in no_decay["params"])
    assert any(p is model.logit_scale for p in no_decay["params"])
    assert len(decay["params"]) + len(no_decay["params"]) == len(list(model.parameters()))


@pytest.mark.training
def test_training_lowers_the_loss_and_checkpoints(tmp_path):
    data = SyntheticShapes(64, resolution=32, seed=0)
    model = tiny_model()
    history = train(model, data, small_config(epochs=3), tmp_path, progress=False)
    assert [h["epoch"] for h in history] == [1, 2, 3]
    assert history[-1]["loss"] < math.log(8)  # below chance for a batch of 8
    assert not list(tmp_path.glob("*.tmp")) and json.loads((tmp_path / "history.json").read_text()) == history
    state = load_training_state(tmp_path / "last.pt")
    assert state["step"] == 24 and state["epoch"] == 3
    curve = json.loads((tmp_path / "curve.json").read_text())
    assert [p["step"] for p in curve] == [10, 20, 24] and curve == state["curve"]
    assert curve[0]["lr"] > curve[-1]["lr"] and all(1 <= p["logit_scale"] <= 100 for p in curve)
    assert model.logit_scale.exp().item() <= 100.0


@pytest.mark.training
def test_resume_after_interruption_is_exact(tmp_path):
    straight = tiny_model()
    train(straight, SyntheticShapes(48, resolution=32, seed=1), small_config(), tmp_path / "a", progress=False)
    interrupted = Interrupting(SyntheticShapes(48, resolution=32, seed=1), at_access=8 * 8 + 3)  # in epoch 2
    model = tiny_model()
    with pytest.raises(KeyboardInterrupt):
        train(model, interrupted, small_config(), tmp_path / "b", progress=False)
    assert load_training_state(tmp_path / "b" / "last.pt")["step"] == 8
    resumed = tiny_model(seed=123)  # different initial weights: everything must come from the checkpoint
    train(resumed, SyntheticShapes(48, resolution=32, seed=1), small_config(), tmp_path / "b", resume=True,
          progress=False)
    for (name, a), b in zip(straight.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), name


@pytest.mark.training
def test_worker_processes_give_the_same_training(tmp_path):
    """Batches prepared by DataLoader workers equal the ones built in the training process, max_steps included."""
    data = SyntheticShapes(48, resolution=32, seed=3)
    models = [tiny_model(), tiny_model()]
    for model, workers in zip(models, (0, 2)):
        train(model, data, small_config(num_workers=workers, max_steps=9), tmp_path / str(workers), progress=False)
    assert load_training_state(tmp_path / "2" / "last.pt")["step"] == 9
    for (name, a), b in zip(models[0].state_dict().items(), models[1].state_dict().values()):
        assert torch.equal(a, b), name


@pytest.mark.training
def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path):
    poisoned = Poisoned(SyntheticShapes(48, resolution=32, seed=2), at_access=6 * 8 + 1)  # epoch 2
    with pytest.raises(TrainingDiverged, match="last good checkpoint is kept"):
        train(tiny_model(), poisoned, small_config(), tmp_path, progress=False)
    assert load_training_state(tmp_path / "last.pt")["step"] == 6


VIT = CLIPConfig(embed_dim=32, image_resolution=32, vision_layers=1, vision_width=64, vision_patch_size=8,
                 context_length=16, transformer_width=32, transformer_heads=1, transformer_layers=1)


def _ddp_worker(rank, world, init_file, out_dir):
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = CLIP(VIT)
    train(model, SyntheticShapes(48, resolution=32, seed=3), small_config(epochs=1, batch_size=4), out_dir,
          progress=False)
    if rank == 0:
        torch.save(model.state_dict(), f"{out_dir}/ddp.pt")
    dist.destroy_process_group()


@pytest.mark.training
def test_two_processes_train_like_one(tmp_path):
    """2 gloo processes with 4 pairs each take the same steps as one process with 8 (a ViT: no BatchNorm)."""
    import torch.multiprocessing as mp

    mp.spawn(_ddp_worker, args=(2, str(tmp_path / "init"), str(tmp_path)), nprocs=2, join=True)
    torch.manual_seed(0)
    single = CLIP(VIT)
    train(single, SyntheticShapes(48, resolution=32, seed=3), small_config(epochs=1, batch_size=8), tmp_path / "one",
          progress=False)
    ddp = torch.load(tmp_path / "ddp.pt")
    assert load_training_state(tmp_path / "last.pt")["step"] == 6
    for name, value in single.state_dict().items():
        torch.testing.assert_close(ddp[name], value, rtol=1e-4, atol=1e-5, msg=name)
    assert not torch.equal(single.visual.proj, CLIP(VIT).visual.proj)  # it did train


def test_bad_resume(tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        train(tiny_model(), SyntheticShapes(16, resolution=32), small_config(), tmp_path, resume=True,
              progress=False)
    (tmp_path / "last.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="not a minclip training checkpoint"):
        train(tiny_model(), SyntheticShapes(16, resolution=32), small_config(), tmp_path, resume=True,
              progress=False)
    with pytest.raises(ValueError, match="fewer than one batch"):
        train(tiny_model(), SyntheticShapes(4, resolution=32), small_config(), tmp_path / "c", progress=False)


@pytest.mark.training
def test_command_line_on_the_committed_sample(tmp_path):
    from minclip.train_cli import main

    assert main(["--dataset", "fashion-mnist-sample", "--out", str(tmp_path), "--max-steps", "2",
                 "--batch-size", "16", "--epochs", "1", "--device", "cpu"]) == 0
    model, preprocess = minclip.load(tmp_path / "model.safetensors", device="cpu")
    assert model.config == CLIPConfig.cpu() and model.tokenizer.vocab_size == 2048
    history = json.loads((tmp_path / "history.json").read_text())
    assert history[-1]["step"] == 2 and 0.0 <= history[-1]["top1"] <= 1.0 and history[-1]["n"] == 1000
    assert 0.0 <= history[-1]["image_to_text_R@1"] <= history[-1]["image_to_text_R@10"] <= 1.0
    # the flags given override TrainConfig.cpu(), the rest comes from it
    assert load_training_state(tmp_path / "last.pt")["train_config"] == TrainConfig.cpu(
        max_steps=2, batch_size=16, device="cpu").to_dict()


def test_the_scenes_schedule_asks_for_bf16_and_a_longer_warm_up_on_a_cpu_and_the_label_schedule_does_not():
    from minclip.train_cli import schedule

    assert schedule("cpu", "fashion-scenes").cpu_amp and schedule("cpu", "fashion-scenes-sample").cpu_amp
    assert not schedule("cpu", "fashion-mnist").cpu_amp and not schedule("gpu", "fashion-scenes").cpu_amp
    assert not schedule("cpu", "fashion-scenes", cpu_amp=False).cpu_amp  # a flag given wins
    assert schedule("cpu", "fashion-scenes", lr=1e-3).lr == 1e-3
    assert schedule("cpu", "fashion-mnist") == TrainConfig.cpu()
    assert schedule("cpu", "fashion-scenes").warmup_steps == 200 > TrainConfig.cpu().warmup_steps
    assert schedule("cpu", "fashion-scenes", warmup_steps=10).warmup_steps == 10
    assert schedule("gpu", "fashion-scenes") == TrainConfig.gpu()


@pytest.mark.parametrize("cpu_amp, amp", [(True, True), (False, True), (True, False)])
def test_cpu_amp_trains_in_bf16_only_where_the_cpu_has_it(tmp_path, cpu_amp, amp):
    """cpu_amp puts a CPU step under bf16 autocast when the CPU computes bf16 natively, else float32; amp=False
    (--no-amp) turns it off. The convolutions' outputs show which precision the step ran in."""
    from minclip.train import cpu_has_bf16, uses_autocast

    config = small_config(epochs=1, max_steps=1, cpu_amp=cpu_amp, amp=amp)
    expected = cpu_amp and amp and cpu_has_bf16()
    assert uses_autocast(config, torch.device("cpu")) == expected
    model, dtypes = tiny_model(), []
    model.visual.conv1.register_forward_hook(lambda module, args, out: dtypes.append(out.dtype))
    history = train(model, SyntheticShapes(8, resolution=32), config, None, progress=False)
    assert dtypes == [torch.bfloat16 if expected else torch.float32] and math.isfinite(history[-1]["loss"])


@pytest.mark.training  # scores the shipped models on the whole test set
@pytest.mark.parametrize("name, card_top1", [("fashion-mnist-cpu", 0.88), ("fashion-mnist-gpu", 0.90)])
def test_shipped_models(name, card_top1):
    """The committed model loads by name, reads its own vocabulary, and classifies the committed sample of the
    test set (images it never trained on) zero-shot, with prompts that training never used."""
    from minclip.captions import CLASSNAMES, EVAL_TEMPLATES
    from minclip.datasets import FashionMNISTPairs, collate
    from minclip.zeroshot import zero_shot_classifier, zero_shot_eval

    assert name in minclip.available_models()
    model, preprocess = minclip.load(name, device="cpu")
    assert model.config == CLIPConfig.cpu() and model.tokenizer.vocab_size == 2048
    card = asset(f"models/{name}.json")
    record = json.loads(card.read_text())
    assert record["zero_shot_test"]["n"] == 10_000 and record["zero_shot_test"]["top1"] >= card_top1
    loader = torch.utils.data.DataLoader(FashionMNISTPairs.sample(resolution=128), batch_size=250,
                                         collate_fn=collate)
    metrics = zero_shot_eval(model, loader, zero_shot_classifier(model, CLASSNAMES, EVAL_TEMPLATES), progress=False)
    assert metrics["n"] == 1000 and metrics["top1"] > 0.85 and metrics["top5"] > 0.98


# -- signals, unwritable folders, impossible settings, your own images ---------------------------------------


@pytest.mark.training
def test_ctrl_c_inside_a_step_finishes_it_and_resumes_exactly(tmp_path):
    """Ctrl-C arriving during a forward pass (BatchNorm has already counted the batch) stops after that step; the
    resumed run equals an uninterrupted one in every parameter, buffer (num_batches_tracked included) and
    optimiser moment."""
    import signal

    straight = tiny_model()
    train(straight, SyntheticShapes(48, resolution=32, seed=1), small_config(), tmp_path / "a", progress=False)
    model = tiny_model()
    calls = []

    def press_ctrl_c(module, inputs, output):
        calls.append(1)
        if len(calls) == 8:  # the forward pass of step 8, in epoch 2
            signal.raise_signal(signal.SIGINT)

    hook = model.visual.register_forward_hook(press_ctrl_c)
    before = signal.getsignal(signal.SIGINT)  # Python's default, or SIG_IGN in a job started in the background
    with pytest.raises(KeyboardInterrupt):
        train(model, SyntheticShapes(48, resolution=32, seed=1), small_config(), tmp_path / "b", progress=False)
    hook.remove()
    assert load_training_state(tmp_path / "b" / "last.pt")["step"] == 8  # step 8 was finished, then saved
    assert signal.getsignal(signal.SIGINT) is before  # the handler is put back
    resumed = tiny_model(seed=123)
    train(resumed, SyntheticShapes(48, resolution=32, seed=1), small_config(), tmp_path / "b", resume=True,
          progress=False)
    a, b = load_training_state(tmp_path / "a" / "last.pt"), load_training_state(tmp_path / "b" / "last.pt")
    assert a["model"].keys() == b["model"].keys() and any("num_batches_tracked" in k for k in a["model"])
    for name in a["model"]:
        assert torch.equal(a["model"][name], b["model"][name]), name
    for i, moments in a["optimizer"]["state"].items():
        for key, value in moments.items():
            assert torch.equal(value, b["optimizer"]["state"][i][key]), (i, key)
    assert a["curve"] == b["curve"] and a["history"] == b["history"]


_SIGTERM_SCRIPT = """
import os, signal, sys, torch
sys.path.insert(0, {tests!r})
from test_train import tiny_model, small_config
from minclip.datasets import SyntheticShapes
from minclip.train import train

class Killed(torch.utils.data.Dataset):  # `kill` arrives while batch 5 is being read
    def __init__(self):
        self.data, self.calls = SyntheticShapes(48, resolution=32, seed=1), 0
    def __len__(self):
        return len(self.data)
    def __getitem__(self, i):
        self.calls += 1
        if self.calls == 4 * 8 + 2:
            os.kill(os.getpid(), signal.SIGTERM)
        return self.data[i]

train(tiny_model(), Killed(), small_config(), {out!r}, progress=False)
"""


@pytest.mark.training
def test_sigterm_saves_like_ctrl_c(tmp_path):
    import signal
    import subprocess
    import sys

    script = _SIGTERM_SCRIPT.format(tests=str(Path(__file__).parent), out=str(tmp_path / "run"))
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode not in (0, -signal.SIGTERM), done.stderr  # not killed: it stopped itself
    assert "TrainingInterrupted: stopped by SIGTERM after step 5" in done.stderr
    assert "interrupted at step 5: saved" in done.stdout
    assert load_training_state(tmp_path / "run" / "last.pt")["step"] == 5
    resumed = tiny_model(seed=7)
    train(resumed, SyntheticShapes(48, resolution=32, seed=1), small_config(), tmp_path / "run", resume=True,
          progress=False)
    straight = tiny_model()
    train(straight, SyntheticShapes(48, resolution=32, seed=1), small_config(), tmp_path / "straight", progress=False)
    for (name, a), b in zip(straight.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), name


_CTRL_C_WITH_WORKERS = """
import os, signal, sys, torch
sys.path.insert(0, {tests!r})
from test_train import tiny_model, small_config
from minclip.datasets import SyntheticShapes
from minclip.train import train

class CtrlC(torch.utils.data.Dataset):  # Ctrl-C while a worker reads an item: the whole process group gets it
    def __init__(self):
        self.data, self.calls = SyntheticShapes(48, resolution=32, seed=1), 0
    def __len__(self):
        return len(self.data)
    def __getitem__(self, i):
        self.calls += 1
        if self.calls == 20 and not os.path.exists({marker!r}):
            open({marker!r}, "w").close()
            os.killpg(os.getpgid(0), signal.SIGINT)
        return self.data[i]

train(tiny_model(), CtrlC(), small_config(num_workers=2), {out!r}, progress=False)
"""


@pytest.mark.training
def test_ctrl_c_in_a_terminal_with_dataloader_workers_saves(tmp_path):
    """The DataLoader's worker processes get Ctrl-C too; they must not die before the step is finished and saved."""
    import subprocess
    import sys

    script = _CTRL_C_WITH_WORKERS.format(tests=str(Path(__file__).parent), out=str(tmp_path / "run"),
                                         marker=str(tmp_path / "pressed"))
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=180,
                          start_new_session=True)  # its own process group: the signal reaches nothing else
    assert "TrainingInterrupted: stopped by SIGINT after step" in done.stderr, done.stderr[-3000:]
    step = int(done.stderr.split("stopped by SIGINT after step ")[1].split()[0])
    assert 1 <= step < 12 and load_training_state(tmp_path / "run" / "last.pt")["step"] == step


def test_unwritable_out_is_found_before_the_first_step(tmp_path):
    (tmp_path / "file").write_text("a file where the run's folder should go")
    data = Interrupting(SyntheticShapes(16, resolution=32), at_access=10**9)
    with pytest.raises(OSError, match=r"cannot write checkpoints to .*file/run.*pick another folder with --out"):
        train(tiny_model(), data, small_config(), tmp_path / "file" / "run", progress=False)
    assert data.calls == 0  # no batch was read, no step taken


def run_cli(args, capsys):
    from minclip.train_cli import main

    with pytest.raises(SystemExit) as stopped:
        main(args)
    assert stopped.value.code == 2
    return capsys.readouterr().err


@pytest.mark.parametrize("flags, message", [
    (["--max-steps", "0"], "argument --max-steps: must be a whole number of 1 or more, not 0"),
    (["--batch-size", "0"], "argument --batch-size: must be a whole number of 1 or more, not 0"),
    (["--epochs", "1.5"], "argument --epochs: '1.5' is not a whole number of 1 or more"),
    (["--lr", "-0.001"], "argument --lr: must be a number above 0, not -0.001"),
    (["--lr", "nan"], "argument --lr: must be a number above 0, not nan"),
    (["--warmup-steps", "-1"], "argument --warmup-steps: must be a whole number of 0 or more, not -1"),
    (["--batch-size", "1001"], "--batch-size 1001 is more than the 1,000 training pairs; pick a batch size of at "
                               "most 1000"),
    (["--word-order", "-1"], "argument --word-order: must be a whole number of 0 or more, not -1"),
    (["--word-order", "8"], "--word-order: the recipes, word-order sentences and scene streams are Fashion Scenes' "
                            "own; use it with --dataset fashion-scenes"),
    (["--text-steps", "8"], "--text-steps: the recipes, word-order sentences and scene streams are Fashion Scenes'"),
    (["--recipe", "plain"], "--recipe: the recipes, word-order sentences and scene streams are Fashion Scenes' own"),
    (["--word-order-every", "2"], "--word-order-every: the recipes, word-order sentences and scene streams are"),
    (["--text-steps", "-2"], "argument --text-steps: must be a whole number of 0 or more, not -2"),
    (["--scenes", "binding"], "--scenes: the recipes, word-order sentences and scene streams are Fashion Scenes'"),
    (["--recipe", "fancy"], "argument --recipe: invalid choice: 'fancy' (choose from"),
    (["--scenes", "web"], "argument --scenes: invalid choice: 'web' (choose from"),
])
def test_impossible_settings_are_refused_with_a_sentence(tmp_path, capsys, flags, message):
    err = run_cli(["--dataset", "fashion-mnist-sample", "--out", str(tmp_path), "--device", "cpu", *flags], capsys)
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "last.pt").exists()


def test_cli_refuses_unwritable_out_and_resume_without_checkpoint(tmp_path, capsys):
    (tmp_path / "file").write_text("not a folder")
    err = run_cli(["--dataset", "fashion-mnist-sample", "--out", str(tmp_path / "file" / "run")], capsys)
    assert "--out: cannot write checkpoints to" in err
    err = run_cli(["--dataset", "fashion-mnist-sample", "--out", str(tmp_path / "new"), "--resume"], capsys)
    assert f"--resume: no checkpoint at {tmp_path / 'new' / 'last.pt'}; run without --resume to start" in err


def write_photos(folder, n=10):
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.new("RGB", (40, 30), (20 * i, 255 - 20 * i, 128)).save(folder / f"colour_{i}.png")
    return folder


@pytest.mark.training
@pytest.mark.parametrize("layout", ["folder", "classes", "csv"])
def test_cli_trains_on_your_own_images(tmp_path, layout):
    from minclip.train_cli import main

    photos = write_photos(tmp_path / "photos")
    data = photos
    if layout == "classes":
        data = tmp_path / "classes"
        for i, path in enumerate(sorted(photos.iterdir())):
            (data / ("red" if i % 2 else "green")).mkdir(parents=True, exist_ok=True)
            path.rename(data / ("red" if i % 2 else "green") / path.name)
    if layout == "csv":
        data = tmp_path / "pairs.csv"
        data.write_text("filepath,caption\n" + "".join(f"photos/colour_{i}.png,colour number {i}\n" for i in range(10)),
                        encoding="utf-8-sig")
    assert main(["--train-data", str(data), "--out", str(tmp_path / "run"), "--max-steps", "2", "--batch-size", "4",
                 "--device", "cpu"]) == 0
    history = json.loads((tmp_path / "run" / "history.json").read_text())
    assert history[-1]["step"] == 2 and 0.0 <= history[-1]["image_to_text_R@1"] <= 1.0
    assert ("top1" in history[-1]) == (layout == "classes")  # zero-shot needs classes
    assert (tmp_path / "run" / "model.safetensors").is_file()


def test_cli_checks_every_file_before_the_first_step(tmp_path, capsys):
    photos = write_photos(tmp_path / "photos")
    (photos / "notes.png").write_text("not a picture")
    (tmp_path / "pairs.csv").write_text("filepath,caption\n" + "".join(
        f"photos/{p.name},{p.stem}\n" for p in sorted(photos.iterdir())))
    err = run_cli(["--train-data", str(tmp_path / "pairs.csv"), "--out", str(tmp_path / "run"), "--batch-size", "4",
                   "--device", "cpu"], capsys)
    assert "--train-data: 1 of 11 images" in err and "notes.png: not a readable image" in err
    assert not (tmp_path / "run" / "last.pt").exists()


def test_hard_negative_captions_enter_the_image_side_of_the_loss():
    from minclip.loss import clip_loss
    from minclip.train import ContrastiveStep

    model = tiny_model()
    step = ContrastiveStep(model)
    images = torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    captions = ["a red circle", "a blue square", "a bag above a coat", "a green triangle"]
    negatives = ["", "", "a coat above a bag", ""]
    with torch.no_grad():
        loss = step.loss(step.module(), (images, captions, torch.zeros(4), negatives), lambda x, **_: x)
        image, text = model.encode_image(images), model.encode_text(model.tokenize(captions + negatives[2:3]))
        expected = clip_loss(image, text[:4], model.logit_scale.exp(), text[4:])
        plain = step.loss(step.module(), (images, captions, torch.zeros(4)), lambda x, **_: x)
    torch.testing.assert_close(loss, expected)
    torch.testing.assert_close(plain, clip_loss(image, text[:4], model.logit_scale.exp()))
    assert loss > plain


def test_a_training_step_encodes_a_large_batch_of_captions_in_two_halves_as_if_whole():
    """A step runs 64 or more captions as a short half and a long half (less padding); each caption's embedding is
    the one it gets alone, in the batch's order; a batch of captions of one length stays whole."""
    from minclip.model import CLIPConfig
    from minclip.train import encode_text_split, new_model

    model = new_model(CLIPConfig.cpu()).eval()
    texts = [("a red sneaker " * (1 + i % 6)).strip() for i in range(70)]  # 3 to 18 words
    tokens = model.tokenize(texts, truncate=True)
    calls = []
    real = model.encode_text
    model.encode_text = lambda t: calls.append(len(t)) or real(t)
    with torch.no_grad():
        split = encode_text_split(model, tokens)
        assert calls == [35, 35]
        alone = torch.cat([real(tokens[i:i + 1]) for i in range(len(texts))])
        torch.testing.assert_close(split, alone, rtol=1e-4, atol=1e-5)
        calls.clear()
        encode_text_split(model, model.tokenize(["a red sneaker"] * 70))
    assert calls == [70]
