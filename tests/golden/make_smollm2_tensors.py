#!/usr/bin/env python3
"""Reference values from SmolLM2-135M-Instruct's GGUF, read by the `gguf` package (llama.cpp's own
reader and dequantizer): metadata the engine relies on and a few rows of tensors of each type.

    pip install gguf numpy
    python tests/golden/make_smollm2_tensors.py .cache/smollm2-135m-instruct.Q4_1.gguf > tests/golden/smollm2_tensors.json
"""
import json
import sys

import numpy as np
from gguf import GGUFReader
from gguf.quants import dequantize


def field(reader, key):
    f = reader.fields[key]
    if f.types[0].name == "STRING":
        return bytes(f.parts[f.data[0]]).decode()
    if f.types[0].name == "ARRAY":
        if f.types[1].name == "STRING":
            return [bytes(f.parts[i]).decode() for i in f.data]
        return [f.parts[i].tolist()[0] for i in f.data]
    return f.parts[f.data[0]].tolist()[0]


def main():
    reader = GGUFReader(sys.argv[1])
    tokens = field(reader, "tokenizer.ggml.tokens")
    merges = field(reader, "tokenizer.ggml.merges")
    out = {
        "version": field(reader, "GGUF.version"),
        "tensor_count": len(reader.tensors),
        "architecture": field(reader, "general.architecture"),
        "block_count": field(reader, "llama.block_count"),
        "rope_freq_base": field(reader, "llama.rope.freq_base"),
        "rms_epsilon": field(reader, "llama.attention.layer_norm_rms_epsilon"),
        "token_count": len(tokens),
        "tokens": {str(i): tokens[i] for i in [0, 1, 2, 17, 255, 1000, 49151]},
        "merge_count": len(merges),
        "merges": merges[:5] + merges[-2:],
        "token_types": field(reader, "tokenizer.ggml.token_type")[:20],
        "chat_template": field(reader, "tokenizer.chat_template"),
        "tensors": [],
    }
    wanted = ["token_embd.weight", "blk.0.attn_q.weight", "blk.0.attn_norm.weight", "blk.29.ffn_down.weight", "output_norm.weight"]
    for t in reader.tensors:
        if t.name not in wanted:
            continue
        values = dequantize(t.data, t.tensor_type).astype(np.float32).reshape(-1)
        row = int(t.shape[0])
        out["tensors"].append({
            "name": t.name, "type": t.tensor_type.name, "shape": [int(x) for x in t.shape],
            "first": values[:40].tolist(),
            "row7": values[7 * row:7 * row + 40].tolist() if values.size >= 8 * row else [],
            "sum": float(values.astype(np.float64).sum()),
        })
    json.dump(out, sys.stdout, indent=1)
    print()


main()
