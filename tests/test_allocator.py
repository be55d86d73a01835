"""minclip.allocator: the training commands start again under tcmalloc where it is installed, and write the same
weights there as under the C library's malloc."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from minclip import allocator
from minclip.allocator import SWITCH, find_tcmalloc, use_tcmalloc

REPO = Path(__file__).resolve().parents[1]
INSTALLED = find_tcmalloc() is not None and sys.platform.startswith("linux")
needs_tcmalloc = pytest.mark.skipif(not INSTALLED, reason="no tcmalloc here (apt-get install libtcmalloc-minimal4)")


class Restarted(Exception):
    pass


@pytest.fixture
def execs(monkeypatch):
    """os.execve as a record: (path, argv, env) of each restart asked for, raising instead of replacing pytest."""
    calls = []

    def execve(path, argv, env):
        calls.append((path, argv, env))
        raise Restarted

    monkeypatch.setattr(allocator.os, "execve", execve)
    monkeypatch.setattr(allocator, "tcmalloc_loaded", lambda: False)
    monkeypatch.setattr(allocator, "find_tcmalloc", lambda: "libtcmalloc_minimal.so.4")
    monkeypatch.delenv(SWITCH, raising=False)
    return calls


def test_restart_puts_tcmalloc_first_and_keeps_the_command(execs, monkeypatch):
    monkeypatch.setenv("LD_PRELOAD", "libother.so")
    with pytest.raises(Restarted):
        use_tcmalloc(["/usr/bin/python3", "-m", "minclip.train", "--dataset", "fashion-scenes"])
    (path, argv, env), = execs
    assert path == "/usr/bin/python3" and argv[1:] == ["-m", "minclip.train", "--dataset", "fashion-scenes"]
    assert env["LD_PRELOAD"] == "libtcmalloc_minimal.so.4 libother.so"
    assert env[SWITCH] == "0"  # the restarted command never restarts again


def test_no_restart_when_off_missing_or_loaded(execs, monkeypatch):
    monkeypatch.setenv(SWITCH, "0")
    use_tcmalloc(["python"])
    monkeypatch.delenv(SWITCH)
    monkeypatch.setattr(allocator, "find_tcmalloc", lambda: None)
    use_tcmalloc(["python"])
    monkeypatch.setattr(allocator, "find_tcmalloc", lambda: "libtcmalloc_minimal.so.4")
    monkeypatch.setattr(allocator, "tcmalloc_loaded", lambda: True)
    use_tcmalloc(["python"])
    assert execs == []


def test_find_prefers_the_environments_own_library(tmp_path, monkeypatch):
    (tmp_path / "lib").mkdir()
    monkeypatch.setattr(allocator.sys, "prefix", str(tmp_path))
    monkeypatch.setattr(allocator.ctypes.util, "find_library", lambda name: None)
    assert find_tcmalloc() is None
    (tmp_path / "lib" / "libtcmalloc_minimal.so.4").write_bytes(b"")
    assert find_tcmalloc() == str(tmp_path / "lib" / "libtcmalloc_minimal.so.4")


def _without_preload() -> dict:
    """This process's environment without LD_PRELOAD: a child starts under the C library's malloc."""
    return {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}


def _run(code: str, tcmalloc: bool, cwd: Path) -> str:
    env = {**_without_preload(), SWITCH: "1" if tcmalloc else "0"}
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True,
                          check=True).stdout


@needs_tcmalloc
def test_a_real_restart_loads_tcmalloc():
    code = "from minclip.allocator import use_tcmalloc, allocator_name; use_tcmalloc(); print(allocator_name())"
    assert _run(code, True, REPO).strip() == "tcmalloc"
    assert _run(code, False, REPO).strip() == "the C library's malloc"


@needs_tcmalloc
@pytest.mark.training
def test_same_weights_under_either_allocator(tmp_path):
    """minclip.train's command line on scenes (a text stage, CLIP's loss with the word-order term, bf16 where the
    CPU has it), a few steps, run twice, once restarted under tcmalloc: the weights agree to the last bit."""
    from safetensors.torch import load_file

    code = ("import sys; from minclip.allocator import use_tcmalloc, allocator_name; use_tcmalloc(); "
            "print(allocator_name()); from minclip.train_cli import main; sys.exit(main(sys.argv[1:]))")
    weights = {}
    for tcmalloc in (False, True):
        out = tmp_path / str(tcmalloc)
        run = subprocess.run([sys.executable, "-c", code, "--dataset", "fashion-scenes-sample", "--out", str(out),
                              "--max-steps", "3", "--batch-size", "32", "--device", "cpu", "--text-steps", "2",
                              "--word-order-every", "1"], cwd=REPO, check=True, capture_output=True, text=True,
                             env={**_without_preload(), SWITCH: "1" if tcmalloc else "0"})
        assert run.stdout.splitlines()[0] == ("tcmalloc" if tcmalloc else "the C library's malloc")
        weights[tcmalloc] = load_file(out / "model.safetensors")
    assert weights[True].keys() == weights[False].keys()
    assert all(torch.equal(weights[True][k], weights[False][k]) for k in weights[True])
