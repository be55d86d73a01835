"""The tokenizer against OpenAI's, as shipped in open_clip: ids, batches, decoding, training, files, bad input."""

import random
from collections import Counter

import pytest
import torch
from open_clip import tokenizer as oc

import minclip
from minclip.tokenizer import SOT, BPETokenizer, bytes_to_unicode, clean, get_pairs, merge, pre_tokenize
from tests.corpus import HARD_CASES, captions, random_ascii, tokenizer_corpus

OPENAI_SPECIALS = (SOT.lower(), "<|endoftext|>", "<start_of_text>", "<end_of_text>")


@pytest.fixture(scope="module")
def ours():
    return BPETokenizer.from_openai()


@pytest.fixture(scope="module")
def reference():
    """OpenAI's SimpleTokenizer as open_clip ships it (open_clip renames the two special tokens)."""
    return oc.SimpleTokenizer()


@pytest.fixture(scope="module")
def corpus():
    return tokenizer_corpus()


def plain(texts):
    """Texts without special-token spellings, where open_clip and openai/CLIP agree."""
    return [t for t in texts if not any(s in clean(t) for s in OPENAI_SPECIALS)]


def test_reference_ids(ours):
    assert len(ours.encoder) == ours.vocab_size == 49408
    assert (ours.sot_token_id, ours.eot_token_id) == (49406, 49407)
    assert ours.encode("a photo of a dog.") == [320, 1125, 539, 320, 1929, 269]
    assert ours.encode("Hello World!") == [3306, 1002, 256]


def test_encode_equals_openai_on_corpus(ours, reference, corpus):
    texts = plain(corpus)
    assert len(texts) > 5000
    mismatches = [t for t in texts if ours.encode(t) != reference.encode(t)]
    assert mismatches == []


def test_encode_equals_openai_with_a_cold_cache(reference):
    fresh = BPETokenizer.from_openai()  # the cache starts empty, so every word goes through bpe()
    for t in plain(HARD_CASES):
        assert fresh.encode(t) == reference.encode(t), t


def test_ascii_fast_path_matches_ftfy():
    """clean() skips ftfy on plain ASCII; on every random ASCII string it must equal the full cleaning."""
    for t in random_ascii(3000, seed=7):
        assert clean(t) == oc.whitespace_clean(oc.basic_clean(t)).lower(), repr(t)


def test_special_tokens_in_text_follow_openai(ours, reference):
    """openai/CLIP maps '<|endoftext|>' written in the text to its id; open_clip does so for its own spelling."""
    assert ours.encode("a <|endoftext|> a") == [320, 49407, 320]
    assert ours.encode("<|STARTOFTEXT|>") == [49406]
    assert reference.encode("a <end_of_text> a") == [320, 49407, 320]
    assert len(ours.encode("<end_of_text>")) > 1 and 49407 not in ours.encode("<end_of_text>")


def test_tokenize_equals_open_clip(corpus):
    texts = plain(corpus)[:3000]
    expected = oc.tokenize(texts)  # open_clip always truncates
    got = minclip.tokenize(texts, truncate=True)
    assert got.dtype == torch.long and got.shape == (len(texts), 77)
    torch.testing.assert_close(got, expected, rtol=0, atol=0)
    fits = [t for t in texts if len(oc._tokenizer.encode(t)) <= 75]
    torch.testing.assert_close(minclip.tokenize(fits), oc.tokenize(fits), rtol=0, atol=0)


@pytest.mark.parametrize("context_length", [2, 5, 16, 77])
def test_tokenize_layout(context_length):
    row = minclip.tokenize("a photo of a dog. " * 20, context_length=context_length, truncate=True)[0]
    assert row[0] == 49406 and row[-1] == 49407 and row.shape == (context_length,)
    short = minclip.tokenize("dog", context_length=context_length if context_length > 2 else 3)[0]
    assert short[:3].tolist() == [49406, 1929, 49407] and short[3:].eq(0).all()


def test_decode_equals_openai(ours, reference, corpus):
    for t in plain(corpus)[:2000]:
        ids = ours.encode(t)
        assert ours.decode(ids) == reference.decode(ids)
    rng = random.Random(0)
    for _ in range(500):  # arbitrary id sequences, including ones that split a UTF-8 character
        ids = [rng.randrange(49406) for _ in range(rng.randint(0, 30))]
        assert ours.decode(ids) == reference.decode(ids)
    assert ours.decode(torch.tensor([49406, 320, 49407])) == "<|startoftext|>a <|endoftext|>"


@pytest.mark.parametrize("text", ["", "?", "🙂👍🏽", "日本語のテキスト", "ça va? It's 12:30 &amp; done", "x" * 1000])
def test_round_trip_up_to_white_space(ours, text):
    """Decoding gives back the cleaned text; only the white space between words can differ."""
    squash = lambda s: "".join(s.split())  # noqa: E731
    assert squash(ours.decode(ours.encode(text))) == squash(clean(text))


def test_round_trip_on_corpus(ours, corpus):
    squash = lambda s: "".join(s.split())  # noqa: E731
    for t in plain(corpus):
        assert squash(ours.decode(ours.encode(t))) == squash(clean(t).replace("\u0345", ""))


def test_the_one_character_the_pattern_drops(ours, reference):
    """Under IGNORECASE, U+0345 (a combining mark that case-folds to a letter) matches no branch of
    OpenAI's pattern, so both tokenizers drop it: the only code point that does not round-trip."""
    assert ours.encode("a\u0345") == reference.encode("a\u0345") == ours.encode("a")


# -- the parts -------------------------------------------------------------------------------------------


def test_bytes_to_unicode_is_a_printable_bijection():
    table = bytes_to_unicode()
    assert sorted(table) == list(range(256)) and len(set(table.values())) == 256
    assert table[ord("a")] == "a" and table[ord(" ")] == "Ġ"
    assert all(c.isprintable() and not c.isspace() for c in table.values())


def test_docstring_examples():
    assert get_pairs(("l", "o", "w</w>")) == {("l", "o"), ("o", "w</w>")}
    assert merge(("a", "a", "a", "b"), ("a", "a")) == ("aa", "a", "b")
    assert merge(("h", "u", "g"), ("u", "g")) == ("h", "ug")
    assert clean("Caf&eacute;  &amp; CREAM\n") == "café & cream"
    assert pre_tokenize("It's 2 dogs!") == ["it", "'s", "2", "dogs", "!"]
    tok = BPETokenizer.from_openai()
    assert tok.bpe("minclip") == ["min", "clip</w>"] and tok.bpe("hello") == ["hello</w>"]


# -- training --------------------------------------------------------------------------------------------


def naive_train(texts, num_merges):
    """Textbook BPE: recount every pair of the whole corpus before each merge (ties: smallest pair)."""
    table = bytes_to_unicode()
    counts = Counter(w for t in texts for w in pre_tokenize(t))
    words = {tuple([*s[:-1], s[-1] + "</w>"]): f for s, f in
             (("".join(table[b] for b in w.encode()), f) for w, f in counts.items())}
    merges = []
    for _ in range(num_merges):
        stats = Counter()
        for word, f in words.items():
            for pair in zip(word, word[1:]):
                stats[pair] += f
        candidates = [p for p in stats if p not in merges]
        if not candidates:
            break
        best = min(candidates, key=lambda p: (-stats[p], p))
        merges.append(best)
        new_words = Counter()
        for word, f in words.items():
            new_words[merge(word, best)] += f
        words = new_words
    return merges


def test_textbook_example():
    """Wikipedia's 'aaabdaaabac': aa -> Z, ab -> Y, ZY -> X gives 'XdXac'."""
    tok = BPETokenizer.train(["aaabdaaabac"], vocab_size=512 + 3 + 2)
    assert tok.merges == [("a", "a"), ("a", "b"), ("aa", "ab")]
    assert [tok.decoder[i] for i in tok.encode("aaabdaaabac")] == ["aaab", "d", "aaab", "a", "c</w>"]


def test_incremental_training_equals_naive_training():
    texts = captions()[:300]
    fast = BPETokenizer.train(texts, vocab_size=512 + 150 + 2)
    assert fast.merges == naive_train(texts, 150)


def test_training_on_captions():
    texts = captions()
    tok = BPETokenizer.train(texts, vocab_size=2000)
    assert tok.vocab_size == 2000 and len(tok.merges) == 2000 - 514
    assert tok.merges == BPETokenizer.train(texts, vocab_size=2000).merges  # deterministic
    ids = tok.encode(texts[0])
    assert max(ids) < 1998 and "".join(tok.decode(ids).split()) == "".join(clean(texts[0]).split())
    # a bigger vocabulary gives fewer tokens per word on the text it was trained on
    small = BPETokenizer.train(texts, vocab_size=600)
    words = sum(len(pre_tokenize(t)) for t in texts)
    assert sum(len(tok.encode(t)) for t in texts) / words < sum(len(small.encode(t)) for t in texts) / words


def test_training_stops_when_nothing_is_left_to_merge():
    tok = BPETokenizer.train(["ab ab"], vocab_size=600)
    assert tok.merges == [("a", "b</w>")] and tok.vocab_size == 515


# -- files -----------------------------------------------------------------------------------------------


def test_save_load_round_trip(tmp_path, ours):
    trained = BPETokenizer.train(captions(), vocab_size=1000)
    path = tmp_path / "captions.bpe"
    trained.save(path)
    text = path.read_text(encoding="utf-8").splitlines()
    assert text[0] == "#version: minclip-bpe 1" and text[1] == "#special: <|startoftext|> <|endoftext|>"
    loaded = BPETokenizer.load(path)
    assert loaded.merges == trained.merges and loaded.decoder == trained.decoder
    for t in captions()[:200] + HARD_CASES[:40]:
        assert loaded.encode(t) == trained.encode(t)
    ours.save(tmp_path / "openai.bpe")
    assert BPETokenizer.load(tmp_path / "openai.bpe").encoder == ours.encoder


@pytest.mark.parametrize(
    "content, message",
    [
        ("", "not a minclip tokenizer file"),
        ("#version: 0.2\ni n\n", "not a minclip tokenizer file"),
        ("#version: minclip-bpe 1\ni n\n", "line 2"),
        ("#version: minclip-bpe 1\n#special: <|startoftext|> <|endoftext|>\ni n\nt h e\n", "line 4"),
    ],
)
def test_load_rejects_bad_files(tmp_path, content, message):
    path = tmp_path / "bad.bpe"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ValueError, match=message):
        BPETokenizer.load(path)


# -- bad input -------------------------------------------------------------------------------------------


def test_too_long_text_names_the_text_and_the_limit():
    text = "a very long caption " * 30
    with pytest.raises(ValueError, match=r"text 1 is 122 tokens .* context length of 77: 'a very long caption"):
        minclip.tokenize(["short", text])
    truncated = minclip.tokenize(["short", text], truncate=True)
    assert truncated[1, -1] == 49407 and truncated[1].ne(0).all()


@pytest.mark.parametrize("bad", [None, 5, b"bytes", ["ok", 3], [None]])
def test_non_strings_get_a_type_error(bad):
    with pytest.raises(TypeError, match="str"):
        minclip.tokenize(bad)


def test_other_bad_input(ours):
    with pytest.raises(ValueError, match="context_length"):
        minclip.tokenize("dog", context_length=1)
    with pytest.raises(ValueError, match="outside this vocabulary"):
        ours.decode([49408])
    with pytest.raises(ValueError, match="at least 514"):
        BPETokenizer.train(["dog"], vocab_size=100)
    with pytest.raises(TypeError, match="str"):
        ours.encode(42)
    assert minclip.tokenize([]).shape == (0, 77)


def test_custom_tokenizer_in_tokenize():
    tok = BPETokenizer.train(captions(), vocab_size=800)
    row = minclip.tokenize("a red sneaker", tokenizer=tok)[0]
    assert row[0] == tok.sot_token_id == 798 and tok.eot_token_id == 799
    assert row[1 : 1 + len(tok.encode("a red sneaker"))].tolist() == tok.encode("a red sneaker")
