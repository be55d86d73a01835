"""Search benchmark: the demo's text-to-image search (minclip.demo.search) over 10,000 images, in ms per query.

Run from the repository root:  make bench-search   (or  .venv/bin/python benchmarks/bench_search.py)

The index holds the 10,000 images of Fashion-MNIST's test set when minclip.data.find_fashion_mnist() finds it,
else the committed 1,000-image sample ten times over (the output says which; a search costs the same either way).
It is built with the shipped model, or read from the demo's cache (minclip.demo.default_cache_dir()). Each query
is a different text (the class names' synonyms in several templates), so the tokenizer's cache helps only with
words seen before, as in the app. After one warm-up pass, every query is timed ``--rounds`` times; the median and
the 90th percentile are printed against the target of 10 ms per query, with the time split into its parts:
tokenising, encoding the text, and the matrix-vector product with top-k.
"""

import argparse
import hashlib
import statistics
import time

import torch
import torch.nn.functional as F

from minclip import demo
from minclip.captions import SYNONYMS, fill
from minclip.data import find_fashion_mnist

TARGET_MS = 10.0
QUERY_TEMPLATES = ("{}", "a photo of a {}", "a {} on a plain background", "show me a {}, please")


def index_of_10k(model: demo.DemoModel) -> tuple[demo.SearchIndex, str]:
    """(index of 10,000 images, a sentence saying which images and whether the index was built or cached)."""
    if find_fashion_mnist() is not None:
        dataset, what = demo.load_dataset(demo.TEST_SET), "Fashion-MNIST's test set (10,000 images)"
    else:
        sample = demo.load_dataset(demo.SAMPLE)
        pixels = sample.pixels.repeat(10, 1, 1)  # (10000, 28, 28)
        identity = hashlib.sha256(sample.identity.encode() + b"x10").hexdigest()
        dataset = demo.DemoDataset("fashion-mnist-sample x10", identity, sample.labels * 10, sample.classnames,
                                   pixels=pixels)
        what = "the committed 1,000-image sample repeated 10 times (Fashion-MNIST's test set was not found)"
    start = time.perf_counter()
    index = demo.build_index(model, dataset, cache_dir=demo.default_cache_dir())
    how = "read from the cache" if index.from_cache else f"built in {time.perf_counter() - start:.1f} s"
    return index, f"{what}, index {how}"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="torch.set_num_threads (default 1)")
    parser.add_argument("--rounds", type=int, default=5, help="timed passes over all queries (default 5)")
    parser.add_argument("--k", type=int, default=8, help="results per query (default 8, as in the app)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model = demo.load_model(demo.DEFAULT_MODEL)
    index, what = index_of_10k(model)
    queries = [fill(t, phrase) for phrases in SYNONYMS for phrase in phrases for t in QUERY_TEMPLATES]
    for q in queries:  # warm-up: the first calls allocate and fill caches
        demo.search(index, model, q, k=args.k)
    totals, tokenise, encode, product = [], [], [], []
    clip = model.clip
    for _ in range(args.rounds):
        for q in queries:
            t0 = time.perf_counter()
            demo.search(index, model, q, k=args.k)
            totals.append(time.perf_counter() - t0)
            with torch.inference_mode():  # the same work, in parts
                t0 = time.perf_counter()
                tokens = clip.tokenize([q])  # (1, T)
                t1 = time.perf_counter()
                query = F.normalize(clip.encode_text(tokens).float(), dim=-1)[0]  # (D,)
                t2 = time.perf_counter()
                torch.topk(index.embeddings @ query, args.k)  # (N,) -> k
                t3 = time.perf_counter()
            tokenise.append(t1 - t0), encode.append(t2 - t1), product.append(t3 - t2)
    ms = [1000 * t for t in totals]
    median, p90 = statistics.median(ms), percentile(ms, 0.9)
    n, d = index.embeddings.shape
    print(f"index: {what}; embeddings ({n}, {d}) float32")
    print(f"model: {model.name}; torch threads: {args.threads}; {len(queries)} different queries x {args.rounds} "
          f"rounds = {len(ms)} timed searches, k={args.k}")
    print(f"search: median {median:.2f} ms, p90 {p90:.2f} ms, min {min(ms):.2f} ms, max {max(ms):.2f} ms")
    print(f"target {TARGET_MS:.0f} ms: median at {median / TARGET_MS:.2f}x the target, p90 at {p90 / TARGET_MS:.2f}x "
          f"({'met' if p90 <= TARGET_MS else 'MISSED'})")
    print(f"parts (median): tokenise {1000 * statistics.median(tokenise):.3f} ms, encode text "
          f"{1000 * statistics.median(encode):.3f} ms, similarity + top-k {1000 * statistics.median(product):.3f} ms")


if __name__ == "__main__":
    main()
