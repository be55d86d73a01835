"""Byte-level byte-pair encoding (BPE), the tokenizer CLIP uses for its text encoder.

Follows the tokenizer described in Radford et al. 2021 (section 2.4: "a lower-cased byte pair encoding (BPE)
representation of the text with a 49,152 vocab size", after Sennrich et al. 2016, with the byte-level
alphabet of GPT-2, Radford et al. 2019). ``BPETokenizer.from_openai()`` reads OpenAI's released merges and
produces exactly the ids of openai/CLIP's ``SimpleTokenizer``; ``BPETokenizer.train`` learns merges of its own.

The ladder, from the bottom:
    bytes_to_unicode   every byte gets a printable character, so any text becomes a string with no spaces
    get_pairs, merge   the two operations BPE is made of (worked examples in their docstrings)
    clean, pre_tokenize CLIP's text cleaning (ftfy, HTML entities, whitespace, lower case) and word split
    BPETokenizer       merges -> vocabulary; train / encode / decode / save / load
    tokenize           a batch of strings -> LongTensor [N, context_length] with start/end tokens and padding
"""

from __future__ import annotations

import gzip
import heapq
import html
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from functools import lru_cache
from importlib import resources
from pathlib import Path

import ftfy
import regex
import torch

SOT, EOT = "<|startoftext|>", "<|endoftext|>"  # ids 49406 and 49407 in OpenAI's vocabulary
END_OF_WORD = "</w>"
FORMAT_VERSION = "#version: minclip-bpe 1"
OPENAI_NUM_MERGES = 49152 - 256 - 2  # OpenAI keeps the first 48,894 of the 262,144 merges it ships
_INF = float("inf")

# CLIP's pre-tokenisation: its two special tokens, English contractions, runs of letters, single digits,
# and runs of anything else that is not white space. The text is lower-cased before this runs.
PATTERN = regex.compile(
    r"""<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+""",
    regex.IGNORECASE,
)
# Printable ASCII without '&', plus tab and newline: text that ftfy and html.unescape leave unchanged.
_PLAIN_ASCII = regex.compile(r"[\t\n\x20-\x25\x27-\x7e]*")


@lru_cache
def bytes_to_unicode() -> dict[int, str]:
    """A reversible table from the 256 byte values to 256 printable unicode characters.

    Printable Latin-1 bytes ('!'..'~', '¡'..'¬', '®'..'ÿ') map to themselves; the other 68 (space, control
    characters, ...) map to chr(256), chr(257), ... in order. So b" " -> 'Ġ' (chr(288)) and b"a" -> 'a'.
    BPE then works on strings without spaces or control characters, and never meets an unknown byte.
    """
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    table = {b: chr(b) for b in printable}
    shifted = (b for b in range(256) if b not in table)
    for n, b in enumerate(shifted):
        table[b] = chr(256 + n)
    return table


# ----------------------------------------------------------------------------------------------------------
# the two operations of BPE


def get_pairs(word: Sequence[str]) -> set[tuple[str, str]]:
    """The set of adjacent symbol pairs: ('l', 'o', 'w</w>') -> {('l', 'o'), ('o', 'w</w>')}."""
    return set(zip(word, word[1:]))


def merge(word: Sequence[str], pair: tuple[str, str]) -> tuple[str, ...]:
    """Replace every occurrence of `pair`, scanning left to right, by the joined symbol.

    ('a', 'a', 'a', 'b'), ('a', 'a') -> ('aa', 'a', 'b');   ('h', 'u', 'g'), ('u', 'g') -> ('h', 'ug')
    """
    first, second = pair
    out, i, n = [], 0, len(word)
    while i < n:
        if i < n - 1 and word[i] == first and word[i + 1] == second:
            out.append(first + second)
            i += 2
        else:
            out.append(word[i])
            i += 1
    return tuple(out)


# ----------------------------------------------------------------------------------------------------------
# CLIP's text cleaning and word split


def clean(text: str) -> str:
    """CLIP's cleaning: ftfy repairs, HTML entities unescaped (twice), white space collapsed, lower case.

    'Caf&eacute;  &amp; CREAM\\n' -> 'café & cream'. Plain ASCII text skips ftfy, which leaves it unchanged.
    """
    if not isinstance(text, str):
        raise TypeError(f"expected text as str, got {type(text).__name__}: {text!r:.80}")
    if not (text.isascii() and _PLAIN_ASCII.fullmatch(text)):
        text = html.unescape(html.unescape(ftfy.fix_text(text)))
    return " ".join(text.split()).lower()


def pre_tokenize(text: str) -> list[str]:
    """Clean `text` and split it into CLIP's words: "It's 2 dogs!" -> ['it', "'s", '2', 'dogs', '!']."""
    return PATTERN.findall(clean(text))


# ----------------------------------------------------------------------------------------------------------
# the tokenizer


class BPETokenizer:
    """A byte-level BPE tokenizer with CLIP's vocabulary layout.

    Vocabulary (ids in order): the 256 byte symbols, the same 256 with the end-of-word marker '</w>', one
    token per merge, then the special tokens. With OpenAI's 48,894 merges that is 49,408 tokens and
    <|startoftext|> = 49406, <|endoftext|> = 49407.
    """

    def __init__(self, merges: Sequence[tuple[str, str]], special_tokens: Sequence[str] = (SOT, EOT)):
        self.merges = [tuple(m) for m in merges]
        self.special_tokens = list(special_tokens)
        self.byte_encoder = bytes_to_unicode()
        self.byte_decoder = {c: b for b, c in self.byte_encoder.items()}
        symbols = list(self.byte_encoder.values())
        vocab = symbols + [s + END_OF_WORD for s in symbols] + ["".join(m) for m in self.merges]
        vocab += self.special_tokens
        self.decoder = vocab  # id -> token string
        # token string -> id; two merges may spell the same token ('th'+'e', 't'+'he'): the later id wins
        self.encoder = {tok: i for i, tok in enumerate(vocab)}
        self.bpe_ranks = {m: r for r, m in reversed(list(enumerate(self.merges)))}  # first rank wins
        # raw word -> ids; special tokens written in the text map to their own id, as in openai/CLIP
        self.cache: dict[str, tuple[int, ...]] = {t: (self.encoder[t],) for t in self.special_tokens}

    @property
    def vocab_size(self) -> int:
        return len(self.decoder)

    @property
    def sot_token_id(self) -> int:
        return self.encoder[self.special_tokens[0]]

    @property
    def eot_token_id(self) -> int:
        return self.encoder[self.special_tokens[1]]

    def __repr__(self) -> str:
        return f"BPETokenizer(vocab_size={self.vocab_size}, merges={len(self.merges)})"

    # -- encode / decode ---------------------------------------------------------------------------------

    def bpe(self, symbols: str) -> list[str]:
        """Apply the merges to one word (already in the byte alphabet), lowest rank first.

        With OpenAI's merges: 'hello' -> ['hello</w>'], 'minclip' -> ['min', 'clip</w>'].
        """
        word = [*symbols[:-1], symbols[-1] + END_OF_WORD]
        rank_of = self.bpe_ranks.get
        while len(word) > 1:
            ranks = [rank_of(p, _INF) for p in zip(word, word[1:])]  # rank of each adjacent pair
            best = min(ranks)
            if best == _INF:
                break
            # merge(word, merges[best]), using the ranks to spot the pair: a rank belongs to one pair only
            joined, out, i, n = "".join(self.merges[best]), [], 0, len(word)
            while i < n:
                if i < n - 1 and ranks[i] == best:
                    out.append(joined)
                    i += 2
                else:
                    out.append(word[i])
                    i += 1
            word = out
        return word

    def encode_word(self, word: str) -> tuple[int, ...]:
        """The ids of one pre-tokenised word (cached: real text repeats its words)."""
        ids = self.cache.get(word)
        if ids is None:
            symbols = "".join(self.byte_encoder[b] for b in word.encode("utf-8"))
            ids = tuple(self.encoder[t] for t in self.bpe(symbols))
            self.cache[word] = ids
        return ids

    def encode(self, text: str) -> list[int]:
        """Text -> token ids, without start and end tokens: 'a photo of a dog.' -> [320, 1125, 539, 320, 1929, 269]."""
        ids: list[int] = []
        cache = self.cache
        for word in pre_tokenize(text):
            cached = cache.get(word)
            ids.extend(cached if cached is not None else self.encode_word(word))
        return ids

    def decode(self, ids: Iterable[int]) -> str:
        """Token ids -> text; each '</w>' becomes a space. Invalid UTF-8 decodes to U+FFFD."""
        ids = [int(i) for i in ids]
        bad = [i for i in ids if not 0 <= i < self.vocab_size]
        if bad:
            raise ValueError(f"token ids {bad[:5]} are outside this vocabulary of {self.vocab_size} tokens")
        text = "".join(self.decoder[i] for i in ids)
        data = bytes(self.byte_decoder[c] for c in text)
        return data.decode("utf-8", errors="replace").replace(END_OF_WORD, " ")

    # -- training ----------------------------------------------------------------------------------------

    @classmethod
    def train(cls, texts: Iterable[str], vocab_size: int, verbose: bool = False) -> BPETokenizer:
        """Learn merges from `texts` until the vocabulary has `vocab_size` tokens (512 bytes + merges + 2).

        Pair counts are kept up to date incrementally: a merge only revisits the words that contain the
        merged pair, and a heap (with stale entries skipped) finds the most frequent pair. Ties go to the
        pair that sorts first, so training is deterministic.
        """
        num_merges = vocab_size - 512 - 2
        if num_merges < 0:
            raise ValueError(f"vocab_size must be at least 514 (512 byte symbols + 2 special), got {vocab_size}")
        byte_encoder = bytes_to_unicode()
        counts = Counter(w for t in texts for w in pre_tokenize(t))
        words = [[*s[:-1], s[-1] + END_OF_WORD] for s in ("".join(byte_encoder[b] for b in w.encode()) for w in counts)]
        freqs = list(counts.values())

        stats: Counter = Counter()  # pair -> weighted count
        where: defaultdict = defaultdict(set)  # pair -> indices of the words that contain it
        for i, (word, f) in enumerate(zip(words, freqs)):
            for pair in zip(word, word[1:]):
                stats[pair] += f
                where[pair].add(i)
        heap = [(-c, pair) for pair, c in stats.items()]
        heapq.heapify(heap)

        merges: list[tuple[str, str]] = []
        done = set()
        while len(merges) < num_merges and heap:
            neg, pair = heapq.heappop(heap)
            if stats.get(pair, 0) != -neg or pair in done:
                continue  # stale entry (the count changed after it was pushed), or a pair merged before
            merges.append(pair)
            done.add(pair)
            changed = set()
            for i in where.pop(pair):
                old = words[i]
                new = list(merge(old, pair))
                f = freqs[i]
                for p in zip(old, old[1:]):
                    stats[p] -= f
                    changed.add(p)
                for p in zip(new, new[1:]):
                    stats[p] += f
                    where[p].add(i)
                    changed.add(p)
                words[i] = new
            del stats[pair]
            for p in changed - {pair}:
                if stats[p] > 0:
                    heapq.heappush(heap, (-stats[p], p))
            if verbose:
                print(f"merge {len(merges)}: {pair} -> {''.join(pair)!r} ({-neg} occurrences)")
        if len(merges) < num_merges and verbose:
            print(f"stopped at {len(merges)} merges: every word is a single token")
        return cls(merges)

    # -- files ---------------------------------------------------------------------------------------------

    @classmethod
    def from_openai(cls) -> BPETokenizer:
        """OpenAI's CLIP tokenizer (49,408 tokens), from the merges file shipped in minclip/assets."""
        return _openai_tokenizer_uncached()

    def save(self, path: str | Path) -> None:
        """Write a text file: a version line, the special tokens, then one merge per line ('t h')."""
        lines = [FORMAT_VERSION, "#special: " + " ".join(self.special_tokens)]
        lines += [f"{a} {b}" for a, b in self.merges]
        Path(path).write_text("\n".join(lines) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> BPETokenizer:
        """Read a file written by `save`; a file in any other format raises ValueError naming the line."""
        lines = Path(path).read_text(encoding="utf-8").splitlines()
        if not lines or lines[0] != FORMAT_VERSION:
            raise ValueError(f"{path}: not a minclip tokenizer file (first line should be {FORMAT_VERSION!r})")
        if len(lines) < 2 or not lines[1].startswith("#special: "):
            raise ValueError(f"{path}, line 2: expected '#special: <tokens>'")
        special = lines[1].removeprefix("#special: ").split()
        merges = []
        for n, line in enumerate(lines[2:], start=3):
            parts = line.split(" ")
            if len(parts) != 2 or not all(parts):
                raise ValueError(f"{path}, line {n}: a merge is two symbols separated by one space, got {line!r}")
            merges.append((parts[0], parts[1]))
        return cls(merges, special)


def _openai_tokenizer_uncached() -> BPETokenizer:
    data = resources.files("minclip").joinpath("assets/bpe_simple_vocab_16e6.txt.gz").read_bytes()
    lines = gzip.decompress(data).decode("utf-8").split("\n")
    return BPETokenizer([tuple(line.split()) for line in lines[1 : OPENAI_NUM_MERGES + 1]])


@lru_cache
def default_tokenizer() -> BPETokenizer:
    """The shared OpenAI tokenizer that `tokenize` uses when none is given (built on first use)."""
    return _openai_tokenizer_uncached()


# ----------------------------------------------------------------------------------------------------------
# batches for the text encoder


def tokenize(
    texts: str | Sequence[str],
    context_length: int = 77,
    truncate: bool = False,
    tokenizer: BPETokenizer | None = None,
) -> torch.LongTensor:
    """Tokenize a string or a list of strings into a LongTensor [N, context_length], like clip.tokenize.

    Each row is <|startoftext|>, the text's tokens, <|endoftext|>, then zeros. Text that does not fit raises
    ValueError, unless `truncate=True`: then the row is cut and its last token is <|endoftext|>.
    """
    if isinstance(texts, str):
        texts = [texts]
    if not isinstance(texts, Sequence):
        raise TypeError(f"tokenize expects a str or a list of str, got {type(texts).__name__}")
    for t in texts:
        if not isinstance(t, str):
            raise TypeError(f"tokenize expects a str or a list of str, got an element of type {type(t).__name__}")
    if context_length < 2:
        raise ValueError(f"context_length must leave room for the start and end tokens, got {context_length}")
    tok = tokenizer if tokenizer is not None else default_tokenizer()
    sot, eot = tok.sot_token_id, tok.eot_token_id
    result = torch.zeros(len(texts), context_length, dtype=torch.long)  # (N, T)
    for row, text in enumerate(texts):
        ids = [sot, *tok.encode(text), eot]
        if len(ids) > context_length:
            if not truncate:
                raise ValueError(
                    f"text {row} is {len(ids)} tokens with its start and end tokens, more than the context "
                    f"length of {context_length}: {text[:60]!r}{'...' if len(text) > 60 else ''}. "
                    "Shorten it, or pass truncate=True to cut it."
                )
            ids = ids[:context_length]
            ids[-1] = eot
        result[row, : len(ids)] = torch.tensor(ids)
    return result
