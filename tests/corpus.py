"""A varied text corpus for tokenizer tests and the tokenizer benchmark.

Hand-picked hard cases (emoji, accents, CJK, right-to-left scripts, HTML entities, mojibake, numbers,
contractions, odd white space, control characters, very long text), the book's caption corpus, and seeded
random strings drawn from many scripts, so the comparison with the reference covers text nobody thought of.
"""

import random

from minclip.resources import asset

CAPTIONS = asset("captions.txt")

HARD_CASES = [
    "", " ", "   \t\n ", "?", "a", "A", "a photo of a dog.", "Hello World!", "aaabdaaabac",
    # emoji, with skin tones, joiners, flags and keycaps
    "🙂", "I ❤️ NY", "👩‍👩‍👧‍👦 family photo", "thumbs up 👍🏽👍🏿", "flags 🇯🇵🇫🇷🇺🇸", "keycap 1️⃣ #️⃣", "🐈‍⬛ black cat",
    # accents, composed and decomposed
    "café naïve résumé façade", "cafe\u0301 nai\u0308ve", "Ångström Øresund Łódź Dvořák", "STRASSE straße ẞ",
    "İstanbul ıİ", "ΑΒΓ αβγ Ωμέγα", "Ελληνικά και русский язык",
    # CJK and other scripts
    "日本語のテキスト", "東京タワーの夜景", "中文字符测试：你好，世界！", "한국어 문장입니다",
    "ｆｕｌｌｗｉｄｔｈ ＡＢＣ １２３", "ภาษาไทย", "हिन्दी में लिखा", "ქართული",
    # right to left
    "مرحبا بالعالم", "שלום עולם", "mixed עברית and English", "\u202eevil override\u202c",
    # HTML entities, single and double escaped
    "Tom &amp; Jerry", "&lt;b&gt;bold&lt;/b&gt;", "it&#39;s &#x27;quoted&#x27;", "a&nbsp;b", "&amp;amp; twice",
    "<p>a <b>tag</b></p>", "5 &lt; 6 &amp;&amp; 7 &gt; 3", "&notanentity; &", "AT&T and R&D",
    # mojibake and encoding damage
    "Ã©tÃ©", "donâ€™t", "â€œquotedâ€\x9d", "SchÃ¶ne GrÃ¼ÃŸe", "\ufffd replacement",
    # numbers
    "3.14159", "1,000,000", "$25.99", "1990s", "x² + y² = z²", "½ ¾ ⅓", "٣ ٤ ٥", "Ⅻ roman", "4:3 16:9", "0x1F",
    # contractions
    "It's", "I'm you'll we'd they've she's", "DON'T WON'T", "o'clock rock'n'roll", "it’s curly", "''quoted''",
    "'s 't 're 've 'm 'll 'd", "'S'T'RE'VE",
    # odd white space and control characters
    "tab\tseparated\tvalues", "line\nbreaks\r\nwindows\rold mac", "no\u00a0break\u2003em\u3000ideographic",
    "zero\u200bwidth\u200cjoiner\u200d", "bell\x07 null\x00 escape\x1b[31mred\x1b[0m", "del\x7f", "\x0c\x0b\x1c\x1d",
    "soft\u00adhyphen", "bom\ufeffmark", "   leading and trailing   ",
    # punctuation runs, symbols, code
    "!!!???...", "-- — – ‒ −", "«guillemets» „low“", "C++ & C# -> λx.x", "user@example.com http://a.b/c?d=e&f=g",
    "~~~***___", "a_b_c snake_case CamelCase", "€ £ ¥ ₹ ₿", "™ © ®", "✓ ✗ ★ ☆ ♠ ♣",
    # special-token spellings written in the text
    "<|startoftext|>", "a <|endoftext|> b", "<|ENDOFTEXT|>", "<start_of_text> open_clip's spelling",
    # very long text
    "a very long caption " * 300, "supercalifragilisticexpialidocious" * 40, "日本" * 500, "🙂" * 400,
]

_SCRIPTS = [
    (0x20, 0x7E), (0xA0, 0x17F), (0x370, 0x3FF), (0x400, 0x4FF), (0x590, 0x5FF), (0x600, 0x6FF),
    (0x900, 0x97F), (0xE00, 0xE7F), (0x3040, 0x30FF), (0x4E00, 0x4FFF), (0xAC00, 0xAD00), (0x1F300, 0x1F64F),
    (0x2000, 0x206F), (0xFF00, 0xFFEF), (0x300, 0x36F),
]


def random_texts(n: int, seed: int = 0) -> list[str]:
    """`n` random strings mixing words, white space, punctuation and characters from many scripts."""
    rng = random.Random(seed)
    words = ["the", "photo", "dog", "&amp;", "it's", "café", "don't", "12", "&#39;", "\r\n", "\t", "  "]
    out = []
    for _ in range(n):
        parts = []
        for _ in range(rng.randint(1, 25)):
            if rng.random() < 0.4:
                parts.append(rng.choice(words))
            else:
                lo, hi = rng.choice(_SCRIPTS)
                parts.append("".join(chr(rng.randint(lo, hi)) for _ in range(rng.randint(1, 8))))
            parts.append(rng.choice([" ", "", " ", "\n", ".", ", "]))
        out.append("".join(parts))
    return out


def random_ascii(n: int, seed: int = 1) -> list[str]:
    """`n` random strings over all 128 ASCII characters, weighted towards letters and spaces."""
    rng = random.Random(seed)
    alphabet = [chr(i) for i in range(128)] + list("etaoin shrdlu ETAOIN '&;") * 8
    return ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 60))) for _ in range(n)]


def captions() -> list[str]:
    """The book's caption corpus (minclip/assets/captions.txt), one caption per line."""
    return CAPTIONS.read_text(encoding="utf-8").splitlines()


def tokenizer_corpus(n_random: int = 2000) -> list[str]:
    """Every text above: hard cases, captions, random multi-script and random ASCII strings."""
    return HARD_CASES + captions() + random_texts(n_random) + random_ascii(n_random)
