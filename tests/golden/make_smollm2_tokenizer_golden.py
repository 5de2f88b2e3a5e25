#!/usr/bin/env python3
"""Golden token ids for SmolLM2's tokenizer, from Hugging Face `tokenizers` built with SmolLM2's own
chain (its vocabulary, merges and special tokens from the GGUF; pre-tokenizer: every digit on its own,
then GPT-2's byte-level pattern; byte-level decoder), on 1,000+ varied strings, cross-checked against
llama.cpp's own tokenizer (`/tokenize` of the xllamacpp server) when that package is installed.

Transformers' GGUF import is not used: it drops SmolLM2's digit-splitting step.

    pip install tokenizers gguf numpy httpx [xllamacpp]
    python tests/golden/make_smollm2_tokenizer_golden.py .cache/smollm2-135m-instruct.Q4_1.gguf > tests/golden/smollm2_tokenizer.json
"""
import json
import random
import sys

from gguf import GGUFReader
from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers


def field(reader, key):
    f = reader.fields[key]
    if f.types[0].name == "ARRAY":
        if f.types[1].name == "STRING":
            return [bytes(f.parts[i]).decode() for i in f.data]
        return [f.parts[i].tolist()[0] for i in f.data]
    return f.parts[f.data[0]].tolist()[0]


def build(path):
    reader = GGUFReader(path)
    tokens = field(reader, "tokenizer.ggml.tokens")
    merges = [tuple(m.split(" ", 1)) for m in field(reader, "tokenizer.ggml.merges")]
    types = field(reader, "tokenizer.ggml.token_type")
    tokenizer = Tokenizer(models.BPE(vocab={t: i for i, t in enumerate(tokens)}, merges=merges))
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
    ])
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.add_special_tokens([AddedToken(tokens[i], special=True, normalized=False) for i, t in enumerate(types) if t in (3, 4)])
    return tokenizer


def corpus():
    rng = random.Random(20261123)
    minilm = json.load(open("tests/golden/minilm.json"))["cases"]
    texts = [case["text"] for case in minilm]
    texts += [
        "def fib(n):\n    return n if n < 2 else fib(n - 1) + fib(n - 2)\n",
        "for (int i = 0; i < 10; ++i) { printf(\"%d\\n\", i); }",
        "    indented\n\ttabbed\r\nwindows line\n\n\nthree newlines",
        "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n",
        "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n",
        "<|endoftext|>", "<|im_start", "im_end|>", "<|IM_END|>", "< |im_end| >", "<<|im_end|>>", "<|im_end|><|im_end|>",
        "<repo_name>atrium<file_sep>main.swift", "<|endoftext|>text after", "a<|im_start|>b",
        "3.14159265358979323846264338327950288419716939937510", "1,000,000 and 2^64 = 18446744073709551616",
        "０１２３ full-width digits, ² ³ ½ ¾ Ⅻ ٣٤٥ ๓", "phone: +1 (555) 010-9999", "2026-11-23T19:45:00Z",
        "don't won't it's I'm they're we've you'll he'd 'tis O'Reilly", "DON'T IT'S", "''''s", " 's 't",
        "   leading spaces", "trailing spaces   ", " ", "  ", "\n", "\t \t", "", "a\u00a0b\u2003c\u3000d",
        "emoji 🙂👍🏽🇫🇷 👨‍👩‍👧‍👦 and ❤️", "日本語のテキストと中文文本和한국어", "Ελληνικά, русский, עברית, العربية, हिन्दी",
        "naïve café résumé Ångström Zoë façade", "e\u0301 combining accent", "\u200bzero\u200dwidth\ufeff",
        "控制\u0001\u0002\u0007字符", "x" * 300, "ab" * 150, "!!!???...,,,;;;" * 5, "   \n   \n" * 10,
        "https://example.com/path?query=1&b=two#frag", "user@example.com", "SELECT * FROM users WHERE id = 42;",
        "{\"key\": [1, 2, 3], \"nested\": {\"a\": null}}", "λx.x + 1 → ∀x ∈ ℝ: x² ≥ 0", "C:\\Users\\name\\file.txt",
    ]
    alphabet = "abcXYZ 0123456789\n\t.,!?'\"-_()<>|/éß中日🙂\u00a0"
    while len(texts) < 1100:
        texts.append("".join(rng.choice(alphabet) for _ in range(rng.randint(1, 60))))
    # Bytes SmolLM2's vocabulary has no token for: both references drop them (not lossless).
    texts += ["a\x04b", "x\x06\x13\x14\x16\x1dy"]
    digits = "".join(rng.choice("0123456789") for _ in range(400))
    texts.append(digits)
    texts.append(" ".join(digits[i:i + 7] for i in range(0, 200, 7)))
    # Every code point with Unicode's White_Space property, alone and between letters, digits and
    # punctuation (the reference's `\s`).
    for space in WHITE_SPACE:
        c = chr(space)
        texts += [c, "a" + c + "b", "1" + c + "2", "." + c + "!", c + c + "x", "x" + c + c, " " + c + "y", c + " z",
                  "\u203a" + c + "\u2058\u2052\u204b\u206c\u2027"]
    # Special tokens in raw text: alone, inside text, doubled, beside emoji and CJK.
    for special in ["<|im_start|>", "<|im_end|>", "<|endoftext|>", "<repo_name>", "<file_sep>"]:
        texts += [special, "word" + special + "word", special + special, "🙂" + special + "🙂", "中文" + special + "文本",
                  " " + special + " ", special + "\n" + special]
    texts.append("<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n")
    return texts


WHITE_SPACE = [0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x20, 0x85, 0xA0, 0x1680, *range(0x2000, 0x200B), 0x2028, 0x2029, 0x202F, 0x205F, 0x3000]


def llama_cpp_ids(path, texts):
    try:
        import httpx
        import xllamacpp
    except ImportError:
        return None
    params = xllamacpp.CommonParams()
    params.model.path = path
    params.n_ctx = 512
    params.cpuparams.n_threads = 1
    server = xllamacpp.Server(params)
    url = server.listening_address
    out = []
    with httpx.Client(base_url=url, timeout=60) as client:
        for text in texts:
            out.append(client.post("/tokenize", json={"content": text, "parse_special": True}).json()["tokens"])
    return out


def main():
    path = sys.argv[1]
    tokenizer = build(path)
    texts = corpus()
    cases = []
    for text in texts:
        ids = tokenizer.encode(text, add_special_tokens=False).ids
        lossless = tokenizer.decode(ids, skip_special_tokens=False) == text
        assert lossless or any(c in text for c in "\x04\x06\x13\x14\x16\x1d"), text
        cases.append({"text": text, "ids": ids, "lossless": lossless})
    checked = llama_cpp_ids(path, texts)
    agree = None
    if checked is not None:
        mismatches = [t for t, c, l in zip(texts, cases, checked) if c["ids"] != l]
        agree = len(texts) - len(mismatches)
        for text in mismatches[:10]:
            print("llama.cpp differs on", repr(text)[:80], file=sys.stderr)
    print(f"{len(cases)} cases; llama.cpp agrees on {agree if agree is not None else 'n/a'}", file=sys.stderr)
    json.dump({"source": "tokenizers (SmolLM2 chain)", "llama_cpp_agrees": agree, "cases": cases}, sys.stdout, ensure_ascii=False)
    print()


main()
