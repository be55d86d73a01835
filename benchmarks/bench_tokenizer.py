"""Tokenizer benchmark: minclip's encode against open_clip's SimpleTokenizer (OpenAI's code) in the same run.

Run from the repository root:  make bench   (or  .venv/bin/python benchmarks/bench_tokenizer.py)

"Cold" encodes with a freshly built tokenizer (empty word cache: every word goes through BPE merges);
"warm" encodes the same texts again with the cache filled. Each figure is the best of several repeats.
Both tokenizers must produce identical ids, or the benchmark stops. It also times learning the book's
vocabulary (BPETokenizer.train on minclip/assets/captions.txt).
"""

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from open_clip.tokenizer import SimpleTokenizer  # noqa: E402

from minclip.tokenizer import BPETokenizer, clean  # noqa: E402
from tests.corpus import captions, tokenizer_corpus  # noqa: E402

SPECIALS = ("<|startoftext|>", "<|endoftext|>", "<start_of_text>", "<end_of_text>")


def best_of(repeats, make, run):
    """Best wall time of `run(make())` over `repeats` tries; `make` is not timed."""
    times = []
    for _ in range(repeats):
        obj = make()
        start = time.perf_counter()
        run(obj)
        times.append(time.perf_counter() - start)
    return min(times)


def bench(name, texts, repeats):
    ours, ref = BPETokenizer.from_openai(), SimpleTokenizer()
    ours_ids, ref_ids = [ours.encode(t) for t in texts], [ref.encode(t) for t in texts]
    if ours_ids != ref_ids:
        sys.exit(f"{name}: minclip and open_clip disagree; the benchmark is void")
    n_tokens = sum(map(len, ours_ids))

    def encode_all(tok):
        for t in texts:
            tok.encode(t)

    rows = {  # `ours` and `ref` have encoded every text once already: their caches are warm
        "cold": (best_of(repeats, BPETokenizer.from_openai, encode_all), best_of(repeats, SimpleTokenizer, encode_all)),
        "warm": (best_of(repeats, lambda: ours, encode_all), best_of(repeats, lambda: ref, encode_all)),
    }
    print(f"\n{name}: {len(texts)} texts, {n_tokens} tokens, identical ids")
    print(f"  {'':5} {'minclip texts/s':>16} {'open_clip texts/s':>18} {'speed-up':>9}")
    for mode, (t_ours, t_ref) in rows.items():
        print(f"  {mode:5} {len(texts) / t_ours:16,.0f} {len(texts) / t_ref:18,.0f} {t_ref / t_ours:8.2f}x")
    return rows


def main():
    sys.stdout.reconfigure(line_buffering=True)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--vocab-size", type=int, default=2048, help="vocabulary size to train on the captions")
    args = parser.parse_args()

    corpus = [t for t in tokenizer_corpus() if not any(s in clean(t) for s in SPECIALS)]
    bench("captions (minclip/assets/captions.txt)", captions(), args.repeats)
    bench("whole test corpus (hard cases, captions, random multi-script and ASCII)", corpus, args.repeats)

    start = time.perf_counter()
    tok = BPETokenizer.train(captions(), vocab_size=args.vocab_size)
    print(f"\ntraining the book's vocabulary ({tok.vocab_size} tokens, {len(tok.merges)} merges "
          f"on {len(captions())} captions): {time.perf_counter() - start:.2f} s")


if __name__ == "__main__":
    main()
