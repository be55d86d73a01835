"""OpenAI's nine released CLIP models by name, and a careful download of their weights.

The names and addresses are the ones openai/CLIP publishes (`clip.available_models()`); the SHA-256 of each file is
the path segment before its name, as in openai/CLIP. A download goes where openai/CLIP puts it, ``~/.cache/clip/<file
name>``, so a file either library fetched serves both. Unlike a plain ``urlretrieve`` the bytes go to ``<file>.part``
first, a failed or interrupted download resumes from there with an HTTP range request, and only a file whose SHA-256
equals the published one is renamed into place: a file at the final path is always complete. Nothing from the file
is ever executed (minclip.load reads the tensors of these TorchScript archives without running them).
"""

from __future__ import annotations

import hashlib
import http.client
import os
from collections.abc import Callable
from pathlib import Path
from urllib.error import HTTPError
from urllib.request import Request, urlopen

from tqdm.auto import tqdm

_BASE = "https://openaipublic.azureedge.net/clip/models"
OPENAI_MODELS: dict[str, str] = {
    "RN50": f"{_BASE}/afeb0e10f9e5a86da6080e35cf09123aca3b358a0c3e3b6c78a7b63bc04b6762/RN50.pt",
    "RN101": f"{_BASE}/8fa8567bab74a42d41c5915025a8e4538c3bdbe8804a470a72f30b0d94fab599/RN101.pt",
    "RN50x4": f"{_BASE}/7e526bd135e493cef0776de27d5f42653e6b4c8bf9e0f653bb11773263205fdd/RN50x4.pt",
    "RN50x16": f"{_BASE}/52378b407f34354e150460fe41077663dd5b39c54cd0bfd2b27167a4a06ec9aa/RN50x16.pt",
    "RN50x64": f"{_BASE}/be1cfb55d75a9666199fb2206c106743da0f6468c9d327f3e0d0a543a9919d9c/RN50x64.pt",
    "ViT-B/32": f"{_BASE}/40d365715913c9da98579312b702a82c18be219cc2a73407c4526f58eba950af/ViT-B-32.pt",
    "ViT-B/16": f"{_BASE}/5806e77cd80f8b59890b7e101eabd078d9fb84e6937f9e85e4ecb61988df416f/ViT-B-16.pt",
    "ViT-L/14": f"{_BASE}/b8cca3fd41ae0c99ba7e8951adf17d267cdb84cd88be6f7c2e0eca1737a03836/ViT-L-14.pt",
    "ViT-L/14@336px": f"{_BASE}/3035c92b350959924f9f00213499208652fc7ea050643e8b385c2dac08641f02/ViT-L-14-336px.pt",
}
CHUNK = 1 << 20  # bytes read and hashed at a time

# progress(bytes done, bytes in all or None when the server does not say)
Progress = Callable[[int, "int | None"], None]


class DownloadError(OSError):
    """A released model could not be fetched or failed its hash check; the message says where to put the file."""


def default_root() -> Path:
    """openai/CLIP's download folder, ``~/.cache/clip``."""
    return Path("~/.cache/clip").expanduser()


def sha256_of(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def cached_path(name: str, root: str | Path | None = None) -> Path:
    """Where the file of released model `name` lives once downloaded."""
    return Path(root or default_root()) / OPENAI_MODELS[name].rsplit("/", 1)[-1]


def download(name: str, root: str | Path | None = None, progress: bool | Progress = True) -> Path:
    """The path of released model `name`'s file, downloaded first unless a file with the right SHA-256 is there.

    `progress`: True draws a tqdm bar (a widget in Jupyter), False draws nothing, a function gets
    (bytes done, bytes in all) after every chunk. Raises DownloadError naming the model, the address and the path
    where a file fetched by other means can be placed.
    """
    url = OPENAI_MODELS[name]
    target = cached_path(name, root)
    expected = url.rsplit("/", 2)[-2]
    if target.is_file():
        if sha256_of(target) == expected:
            return target
        problem = f"{target} exists but its SHA-256 is not the published one, so it was downloaded again; "
    else:
        problem = ""
    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_name(target.name + ".part")
    try:
        _fetch(url, part, name, progress)
    except (OSError, http.client.HTTPException) as err:
        raise DownloadError(_advice(name, url, target, f"{problem}the download failed ({type(err).__name__}: "
                                                       f"{err}); the partial file {part} will be resumed")) from None
    found = sha256_of(part)
    if found != expected:
        part.unlink()  # never resume from bytes that are wrong
        raise DownloadError(_advice(name, url, target, f"the downloaded file's SHA-256 is {found}, not the "
                                                       f"published {expected}; it was deleted"))
    os.replace(part, target)  # atomic: the final name only ever holds a complete, checked file
    return target


def _advice(name: str, url: str, target: Path, problem: str) -> str:
    return (f"could not get OpenAI's released CLIP model {name!r} from {url}: {problem}. On a machine without "
            f"internet, fetch that address elsewhere and place the file at {target} (its SHA-256 must be "
            f"{url.rsplit('/', 2)[-2]}), or pass download_root= a folder that holds it")


def _fetch(url: str, part: Path, name: str, progress: bool | Progress) -> None:
    """Append the bytes of `url` to `part`, resuming after what `part` already holds when the server allows it."""
    done = part.stat().st_size if part.exists() else 0
    headers = {"User-Agent": "minclip", **({"Range": f"bytes={done}-"} if done else {})}
    try:
        response = urlopen(Request(url, headers=headers), timeout=60)
    except HTTPError as err:
        if err.code == 416 and done:  # nothing after `done`: the previous attempt got every byte
            return
        raise
    with response:
        if done and response.status != 206:  # the server ignored the range: start again
            done = 0
        length = response.headers.get("Content-Length")
        total = done + int(length) if length is not None else None
        bar = tqdm(total=total, initial=done, unit="B", unit_scale=True, unit_divisor=1024, desc=name,
                   disable=progress is not True)
        with bar, open(part, "ab" if done else "wb") as f:
            while chunk := response.read(CHUNK):
                f.write(chunk)
                done += len(chunk)
                bar.update(len(chunk))
                if callable(progress):
                    progress(done, total)
    if total is not None and done < total:
        raise DownloadError(f"the connection closed after {done:,} of {total:,} bytes")
