#!/usr/bin/env python3
"""Makes tests/golden/minilm.json: a corpus of varied strings with the token ids that Hugging Face
`tokenizers` gives and the embeddings that sentence-transformers (torch, CPU, fp32) gives, for
all-MiniLM-L6-v2. The Swift tests hold AtriumML to both.

    python3 -m venv /tmp/ref && /tmp/ref/bin/pip install torch==2.13.0+cpu sentence-transformers tokenizers
    /tmp/ref/bin/python tests/golden/make_minilm_golden.py .cache/models/all-minilm-l6-v2
"""
import base64
import json
import random
import sys
import unicodedata

import numpy as np
from sentence_transformers import SentenceTransformer
from tokenizers import Tokenizer

MAX_SEQ_LENGTH = 256


def corpus(seed=20261123):
    rng = random.Random(seed)
    words = ("the model serves embeddings quickly and every developer builds an app that answers questions about "
             "documents tokens latency throughput quota billing community forum support ticket feedback release "
             "notes platform server engine batch queue vector search retrieval ranking semantic similarity").split()
    accented = ("déjà vu", "naïve café", "Über straße", "façade", "São Paulo", "Ångström", "jalapeño", "crème brûlée",
                "Tiếng Việt có dấu", "Łódź", "Dvořák", "résumé", "Ægir", "œuvre", "İstanbul", "ﬁnancial ligature",
                "Ｆｕｌｌｗｉｄｔｈ", "ｶﾀｶﾅ", "Ⅻ roman", "x² + y³", "½ cup", "ℌilbert")
    cjk = ("我爱自然语言处理", "東京は日本の首都です", "한국어 문장입니다", "ひらがなとカタカナ", "中文，标点。", "漢字かな交じり文",
           "𠀋𠂤 extension B", "㐀㐁 extension A", "繁體中文測試", "これはテストです。", "서울특별시")
    emoji = ("👋🌍", "I ❤️ NY", "👩‍👩‍👧‍👦 family", "👍🏽 thumbs", "🇫🇷🇯🇵 flags", "🫠 melting", "🥲 smile tear", "🧑‍💻 coder",
             "✨ sparkles ✨", "🤖🤖🤖", "☕️ coffee", "🏳️‍🌈", "🦀 rust 🐍 python", "🪿 goose", "1️⃣ keycap")
    punctuation = ("!!!???...", "---===+++", "«quoted» „German“ ‘single’", "(a[b{c}d]e)", "@#$%^&*", "…‽⁇", "¿Qué? ¡Sí!",
                   "a/b\\c|d", "~`'\"", "—–‐", "§¶†‡", "<html><body>x</body></html>", "email@example.com",
                   "https://example.com/path?q=1&r=2#frag", "C++ && C# || F#", "$100.00 €50 ¥1000 £5")
    controls = ("tab\there", "new\nline", "carriage\rreturn", "nul\x00byte", "bell\x07char", "zero\u200bwidth",
                "soft\u00adhyphen", "bom\ufeffstart", "rtl\u202emark", "private\ue000use", "replacement\ufffdchar",
                "unassigned\U000e0fffpoint", "del\x7fchar", "esc\x1b[31mred", "nbsp\u00a0space", "ideographic\u3000space",
                "line\u2028sep", "form\x0cfeed", "vertical\x0btab", "joiner\u200dzwj", "variation\ufe0fselector")
    specials = ("[CLS] hello [SEP]", "a [MASK] b", "[UNK]", "[PAD][PAD]", "x[MASK]y", "[cls] lower", "[ MASK ]")
    texts = []
    for _ in range(320):
        texts.append(" ".join(rng.choice(words) for _ in range(rng.randint(1, 25))).capitalize() + rng.choice([".", "?", "!", ""]))
    for group in (accented, cjk, emoji, punctuation, controls, specials):
        texts.extend(group)
        for _ in range(60 if group is not specials else 10):
            parts = [rng.choice(group), rng.choice(words), rng.choice(group)]
            rng.shuffle(parts)
            texts.append(rng.choice([" ", "", "  ", "\t"]).join(parts))
    for _ in range(150):  # code points from every plane, assigned or not
        chars = []
        while len(chars) < rng.randint(1, 12):
            cp = rng.choice([rng.randint(0x20, 0x2FF), rng.randint(0x300, 0x36F), rng.randint(0x370, 0x1FFF),
                             rng.randint(0x2000, 0x2BFF), rng.randint(0x3000, 0xD7FF), rng.randint(0xE000, 0xFFFD),
                             rng.randint(0x10000, 0x1FFFF), rng.randint(0x20000, 0x2FFFF), rng.randint(0xE0000, 0xE01EF)])
            chars.append(chr(cp))
        texts.append("".join(chars))
    for _ in range(60):
        texts.append(" ".join(f"{rng.randint(0, 10**rng.randint(1, 12))}" for _ in range(rng.randint(1, 8))))
        texts.append(f"def f{rng.randint(0, 99)}(x): return x * {rng.random():.4f}  # {rng.choice(words)}")
    for n in (300, 600, 2000):  # longer than the model takes
        texts.append(" ".join(rng.choice(words) for _ in range(n)))
    for length in (99, 100, 101, 150, 500):  # a word at and past WordPiece's 100 characters
        texts.append("a" * length)
        texts.append("x " + "b" * length + " y")
    texts.extend(["", " ", "\n\n", "\t \t", "\x00", "\u200b", "a", "A", "."])
    texts.extend(unicodedata.normalize(form, "Café Ñandú Ǆemal") for form in ("NFC", "NFD", "NFKC", "NFKD"))
    return texts


def main():
    folder = sys.argv[1]
    texts = corpus()
    tokenizer = Tokenizer.from_file(f"{folder}/tokenizer.json")
    tokenizer.enable_truncation(MAX_SEQ_LENGTH)
    tokenizer.no_padding()
    ids = [encoding.ids for encoding in tokenizer.encode_batch(texts)]
    model = SentenceTransformer(folder, device="cpu")
    assert model.max_seq_length == MAX_SEQ_LENGTH
    # sentence-transformers tokenizes with the same fast tokenizer; check that it agrees.
    for text, expected in zip(texts[:50], ids[:50]):
        got = model.tokenize([text])["input_ids"][0].tolist()
        assert got == expected, (text, got, expected)
    embeddings = model.encode(texts, batch_size=32, convert_to_numpy=True).astype("<f4")
    cases = [{"text": t, "ids": i, "embedding": base64.b64encode(e.tobytes()).decode()} for t, i, e in zip(texts, ids, embeddings)]
    out = {"model": "sentence-transformers/all-MiniLM-L6-v2", "max_seq_length": MAX_SEQ_LENGTH, "dimensions": int(embeddings.shape[1]),
           "made_with": {"tokenizers": __import__("tokenizers").__version__, "sentence_transformers": __import__("sentence_transformers").__version__,
                         "torch": __import__("torch").__version__},
           "cases": cases}
    with open("tests/golden/minilm.json", "w") as f:
        json.dump(out, f, ensure_ascii=True, separators=(",", ":"))
    print(f"{len(cases)} cases written")


if __name__ == "__main__":
    main()
