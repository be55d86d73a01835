"""minclip as a package: the wheel carries everything it reads, and the optional parts stay optional.

The wheel test builds minclip's wheel, installs it into a fresh virtual environment (whose other packages come from
the running environment through a .pth file, so nothing is downloaded) and runs the README's library example and
`minclip.load` of every shipped model from a folder outside the repository.
"""

import ast
import re
import shutil
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path

import pytest

import minclip

REPO = Path(__file__).resolve().parents[1]
OPTIONAL = ["matplotlib", "ipywidgets", "voila", "transformers", "huggingface_hub", "open_clip"]


def run(cmd, cwd, timeout=300):
    env = {"PATH": "/usr/bin:/bin", "HOME": str(cwd), "MINCLIP_CACHE": str(Path(cwd) / "cache")}  # no PYTHONPATH
    proc = subprocess.run([str(c) for c in cmd], cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)
    assert proc.returncode == 0, f"{cmd} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout


def test_import_works_without_optional_packages(tmp_path):
    """With the extras' packages unimportable, minclip imports, loads its shipped model and reads its data; a hub
    name then says how to install huggingface_hub."""
    code = textwrap.dedent(f"""
        import sys

        class Block:  # every optional package fails to import, as when it is not installed
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in {OPTIONAL!r}:
                    raise ImportError(f"blocked {{name}}")

        sys.meta_path.insert(0, Block())
        import minclip, minclip.demo, minclip.datasets, minclip.pretrained, minclip.hf, minclip.train
        model, preprocess = minclip.load("fashion-mnist-cpu", device="cpu")
        images, labels = minclip.datasets.load_sample()
        assert images.shape == (1000, 28, 28)
        try:
            minclip.load("hf-hub:laion/CLIP-ViT-B-32-laion2B-s34B-b79K")
        except ImportError as err:
            print(err)
        print(sorted(m for m in sys.modules if m.split(".")[0] in {OPTIONAL!r}))
    """)
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=300,
                         env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert out.returncode == 0, out.stderr[-3000:]
    lines = out.stdout.strip().splitlines()
    assert "pip install huggingface_hub" in lines[-2] and lines[-1] == "[]"


def build_wheel(out: Path) -> Path:
    """Build from a copy of what the wheel is made of, so the checkout gets no build/ or egg-info folders."""
    src = out / "src"
    shutil.copytree(REPO / "minclip", src / "minclip", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w", out, src],
        cwd=out)
    return next(out.glob("minclip-*.whl"))


@pytest.mark.slow
def test_wheel_installs_and_runs_outside_the_repository(tmp_path):
    wheel = build_wheel(tmp_path)
    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", venv], cwd=tmp_path)
    python = venv / "bin" / "python"
    site = Path(run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], cwd=tmp_path).strip())
    (site / "zz-dev-packages.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")  # torch & co, not minclip
    run([sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index", wheel], cwd=tmp_path)

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    example = re.findall(r"```python\n(.*?)```", readme, flags=re.DOTALL)[0]
    check = textwrap.dedent("""
        import numpy as np
        from PIL import Image
        Image.fromarray(np.random.default_rng(0).integers(0, 256, (300, 400, 3), dtype=np.uint8)).save("photo.jpg")
    """) + example + textwrap.dedent("""
        import minclip
        from minclip.pretrained import OPENAI_MODELS
        from minclip.datasets import load_sample
        from minclip.model import CLIPConfig
        from minclip.train import new_model
        print(minclip.__file__)
        print(probs.shape)
        shipped = [name for name in minclip.available_models() if name not in OPENAI_MODELS]
        for name in shipped:
            model, preprocess = minclip.load(name, device="cpu")
        print(shipped, load_sample()[0].shape, new_model(CLIPConfig.cpu()).tokenizer.vocab_size)
    """)
    (elsewhere / "check.py").write_text(check)
    lines = run([python, "check.py"], cwd=elsewhere).strip().splitlines()
    assert lines[-3].startswith(str(site)) and lines[-2] == "torch.Size([1, 2])"
    models = "['fashion-mnist-cpu', 'fashion-mnist-gpu', 'fashion-scenes-cpu']"
    assert lines[-1] == f"{models} torch.Size([1000, 28, 28]) 2048"


@pytest.mark.parametrize("name", ["models/fashion-mnist-cpu.safetensors", "captions.txt", "fashion_mnist_sample.npz",
                                  "bpe_simple_vocab_16e6.txt.gz"])
def test_assets_are_inside_the_package(name):
    from minclip.resources import asset

    assert asset(name).is_file() and asset(name).is_relative_to(REPO / "minclip" / "assets")


def minclip_imports(path: Path) -> set[str]:
    """The minclip modules a source file imports anywhere (TYPE_CHECKING blocks and function bodies included), but
    for its `if __name__ == "__main__":` block, which runs only as a script."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    tree.body = [n for n in tree.body if not (isinstance(n, ast.If) and "__main__" in ast.unparse(n.test))]
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "minclip":
            parts = node.module.split(".")
            names |= {parts[1]} if len(parts) > 1 else {a.name for a in node.names}
        elif isinstance(node, ast.Import):
            names |= {a.name.split(".")[1] for a in node.names if a.name.startswith("minclip.")}
    return names


def test_the_package_has_no_import_cycle():
    """Data flows down the layers: minclip.demo_data once imported minclip.demo (for a type) while demo imports it."""
    package = Path(minclip.__file__).parent
    modules = {p.stem for p in package.glob("*.py")} - {"__init__"}
    graph = {m: minclip_imports(package / f"{m}.py") & modules for m in modules}

    def cycle_from(node, path):
        for nxt in sorted(graph[node]):
            if nxt in path:
                return path[path.index(nxt):] + [nxt]
            found = cycle_from(nxt, path + [nxt])
            if found:
                return found
        return None

    for m in sorted(modules):
        assert cycle_from(m, [m]) is None, f"import cycle: {' -> '.join(cycle_from(m, [m]))}"
