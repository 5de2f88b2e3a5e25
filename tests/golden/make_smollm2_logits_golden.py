#!/usr/bin/env python3
"""Reference continuations and log-probabilities for SmolLM2-135M-Instruct: transformers in fp32 on
the GGUF's weights dequantized (the file's own values, no further rounding), greedy, 20+ prompts.
For each prompt: its ids (from the golden-checked tokenizer chain), the greedy continuation, and at
every step the top-5 token ids with their log-probabilities.

    pip install torch==2.13.0+cpu transformers accelerate gguf tokenizers
    python tests/golden/make_smollm2_logits_golden.py .cache/smollm2-135m-instruct.Q4_1.gguf > tests/golden/smollm2_logits.json
"""
import json
import os
import sys

import torch
from transformers import AutoModelForCausalLM

sys.path.insert(0, os.path.dirname(__file__))
STEPS = 12

PROMPTS = [
    ("chat", "What is the capital of France?"),
    ("chat", "Write a haiku about the sea."),
    ("chat", "What is 12 times 12?"),
    ("chat", "Name three primary colors."),
    ("chat", "Translate 'good morning' into Spanish."),
    ("chat", "Explain what a CPU does in one sentence."),
    ("chat", "Write a Python function that reverses a string."),
    ("chat", "Who wrote Romeo and Juliet?"),
    ("chat", "List the days of the week."),
    ("chat", "What color is the sky on a clear day?"),
    ("chat", "Give me a synonym for happy."),
    ("chat", "How many legs does a spider have?"),
    ("raw", "The quick brown fox"),
    ("raw", "Once upon a time, in a small village,"),
    ("raw", "def fibonacci(n):\n"),
    ("raw", "1, 2, 3, 4, 5,"),
    ("raw", "The capital of Germany is"),
    ("raw", "import numpy as np\nimport"),
    ("raw", "Water boils at"),
    ("raw", "In 1969, the first"),
    ("raw", "日本の首都は"),
    ("raw", "Bonjour, je m'appelle"),
]


def chat_text(question):
    return ("<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
            f"<|im_start|>user\n{question}<|im_end|>\n<|im_start|>assistant\n")


def main():
    path = sys.argv[1]
    exec_ns = {}
    source = open(os.path.join(os.path.dirname(__file__), "make_smollm2_tokenizer_golden.py")).read().replace("\nmain()\n", "\n")
    exec(compile(source, "tokenizer_golden", "exec"), exec_ns)
    tokenizer = exec_ns["build"](path)
    torch.set_num_threads(2)
    model = AutoModelForCausalLM.from_pretrained(os.path.dirname(os.path.abspath(path)), gguf_file=os.path.basename(path), torch_dtype=torch.float32).eval()
    cases = []
    for kind, prompt in PROMPTS:
        text = chat_text(prompt) if kind == "chat" else prompt
        ids = tokenizer.encode(text, add_special_tokens=False).ids
        sequence = list(ids)
        steps = []
        with torch.no_grad():
            for _ in range(STEPS):
                logits = model(torch.tensor([sequence])).logits[0, -1].double()
                logprobs = torch.log_softmax(logits, dim=-1)
                top = torch.topk(logprobs, 5)
                steps.append({"top_ids": top.indices.tolist(), "top_logprobs": top.values.tolist()})
                sequence.append(int(top.indices[0]))
        cases.append({"kind": kind, "text": text, "ids": ids, "continuation": sequence[len(ids):], "steps": steps,
                      "continuation_text": tokenizer.decode(sequence[len(ids):], skip_special_tokens=False)})
        print(repr(prompt), "->", repr(cases[-1]["continuation_text"]), file=sys.stderr)
    json.dump({"source": "transformers fp32 on the dequantized GGUF", "cases": cases}, sys.stdout, ensure_ascii=False)
    print()


main()
