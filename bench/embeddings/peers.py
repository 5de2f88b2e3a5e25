#!/usr/bin/env python3
"""Sentences per second for the peers, in-process, on the same sentences and threads as Atrium:
sentence-transformers (torch CPU) and ONNX Runtime fp32 (the model exported once by this script).

    peers.py st|ort MODEL_DIR TEXTS BATCH SECONDS THREADS [ONNX_PATH]
"""
import os
import sys
import time


def measure(embed, sentences, batch, seconds):
    batches = [sentences[i:i + batch] for i in range(0, len(sentences), batch)]
    for texts in batches:  # one warm-up pass
        embed(texts)
    done, start = 0, time.perf_counter()
    while True:
        for texts in batches:
            embed(texts)
            done += len(texts)
            if time.perf_counter() - start > seconds:
                return done / (time.perf_counter() - start)


def sentence_transformers(model_dir, threads):
    import torch
    from sentence_transformers import SentenceTransformer
    torch.set_num_threads(threads)
    model = SentenceTransformer(model_dir, device="cpu")
    return lambda texts: model.encode(texts, batch_size=len(texts), convert_to_numpy=True)


def export_onnx(model_dir, path):
    import torch
    from transformers import AutoModel
    bert = AutoModel.from_pretrained(model_dir).eval()

    class Encoder(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.bert = bert

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.bert(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids).last_hidden_state

    ids = torch.ones(2, 8, dtype=torch.long)
    with torch.no_grad():
        torch.onnx.export(
            Encoder().eval(), (ids, torch.ones_like(ids), torch.zeros_like(ids)), path, opset_version=17, dynamo=False,
            input_names=["input_ids", "attention_mask", "token_type_ids"], output_names=["last_hidden_state"],
            dynamic_axes={name: {0: "batch", 1: "sequence"} for name in ["input_ids", "attention_mask", "token_type_ids", "last_hidden_state"]})


def onnx_runtime(model_dir, threads, path):
    import numpy as np
    import onnxruntime
    from tokenizers import Tokenizer
    if not os.path.exists(path):
        export_onnx(model_dir, path)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    tokenizer = Tokenizer.from_file(f"{model_dir}/tokenizer.json")
    tokenizer.enable_truncation(256)
    tokenizer.enable_padding()  # to the longest in the batch, as sentence-transformers pads

    def embed(texts):
        encodings = tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        hidden = session.run(None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)})[0]
        summed = (hidden * mask[..., None]).sum(1) / np.clip(mask.sum(1, keepdims=True), 1e-9, None)
        return summed / np.clip(np.linalg.norm(summed, axis=1, keepdims=True), 1e-12, None)

    return embed


def main():
    which, model_dir, texts, batch, seconds, threads = sys.argv[1:7]
    sentences = open(texts).read().splitlines()
    embed = sentence_transformers(model_dir, int(threads)) if which == "st" else onnx_runtime(model_dir, int(threads), sys.argv[7])
    print(f"{measure(embed, sentences, int(batch), float(seconds)):.1f}")


if __name__ == "__main__":
    main()
