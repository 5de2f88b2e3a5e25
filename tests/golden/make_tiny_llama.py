#!/usr/bin/env python3
"""A tiny random Llama written in both layouts the engine loads, with transformers' logits as the
reference:

- tests/fixtures/tiny-llama/hf/: a Hugging Face folder (config.json, model.safetensors in bfloat16,
  tokenizer.json, tokenizer_config.json, generation_config.json), as `save_pretrained` writes it;
- tests/fixtures/tiny-llama/tiny-llama.gguf: the GGUF made from it, as llama.cpp's converter lays it
  out (the same bfloat16 values; norms in F32; query and key rows permuted for adjacent-pair rotary
  positions; the tokenizer as `tokenizer.ggml.*`);
- tests/golden/tiny_llama.json: token ids of varied strings from Hugging Face `tokenizers`, and the
  logits of every position of a few prompts from transformers in fp32 (eager attention).

Its tokenizer is a byte-level BPE trained here on a little text (SmolLM2's pre-tokenizer chain:
every digit on its own, then GPT-2's pattern), so the whole fixture stays under a megabyte. Weights
are drawn wider than transformers' default (and the norms away from 1), so that logits vary enough
to show a wrong rotary layout, a transposed matrix or a dropped norm.

    pip install torch==2.13.0+cpu transformers tokenizers safetensors gguf numpy
    python tests/golden/make_tiny_llama.py
"""
import json
import os

import numpy as np
import torch
from gguf import GGMLQuantizationType, GGUFWriter
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import LlamaConfig, LlamaForCausalLM

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
FIXTURE = os.path.join(ROOT, "tests", "fixtures", "tiny-llama")
HF = os.path.join(FIXTURE, "hf")
SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
CHAT_TEMPLATE = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
TRAINING_TEXT = [
    "The quick brown fox jumps over the lazy dog. The dog sleeps; the fox runs on.",
    "def add(a, b):\n    return a + b\n\nprint(add(12, 30))\n",
    "Atrium serves models: chat, completions and embeddings, metered and limited.",
    "Prices are in micro-units per million tokens; 1,250,000 tokens cost 0.15.",
    "Hello, world! Bonjour le monde. Hallo Welt. ¡Hola, mundo! こんにちは世界",
    "  indented with spaces\n\ttabbed\nnew lines\n\n",
    "It's what they're saying: we'll see, you'd think, I'm sure.",
] * 4
STRINGS = [
    "The quick brown fox", "Hello, world!", "def add(a, b):\n    return a + b", "1234567 and 89", "   spaces   ",
    "It's they're we'll", "unseen words zyxwvut", "emoji 🙂 and 日本語", "<|im_start|>user\nhi<|im_end|>\n",
    "<|im_end|> inside text", "", "\n\n\t", "ça va? Ünïcödé",
]
PROMPTS = [
    "The quick brown fox jumps over",
    "def add(a, b):\n    return",
    "<|im_start|>user\nHello, world!<|im_end|>\n<|im_start|>assistant\n",
    "Prices are in micro-units per million tokens; 1,250,000",
]


def train_tokenizer():
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
    ])
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=480, special_tokens=SPECIAL, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tokenizer.train_from_iterator(TRAINING_TEXT, trainer)
    return tokenizer


def make_model(vocabulary):
    config = LlamaConfig(
        vocab_size=vocabulary, hidden_size=64, intermediate_size=160, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=256, rope_theta=50000.0, rms_norm_eps=1e-5, tie_word_embeddings=False,
        bos_token_id=1, eos_token_id=2, initializer_range=0.15,
    )
    torch.manual_seed(20261201)
    model = LlamaForCausalLM(config)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if name.endswith("norm.weight"):
                parameter.uniform_(0.5, 1.5)
    return model.to(torch.bfloat16).eval()


def permute(weights, heads):
    """llama.cpp's converter: each head's rows reordered so that rotary pairs are adjacent."""
    return weights.reshape(heads, 2, weights.shape[0] // heads // 2, *weights.shape[1:]).swapaxes(1, 2).reshape(weights.shape)


def bf16(tensor):
    return tensor.detach().contiguous().view(torch.int16).numpy().view(np.uint16)


def write_gguf(model, tokenizer, path):
    c = model.config
    writer = GGUFWriter(path, "llama")
    writer.add_name("tiny-llama")
    writer.add_context_length(c.max_position_embeddings)
    writer.add_embedding_length(c.hidden_size)
    writer.add_block_count(c.num_hidden_layers)
    writer.add_feed_forward_length(c.intermediate_size)
    writer.add_head_count(c.num_attention_heads)
    writer.add_head_count_kv(c.num_key_value_heads)
    writer.add_rope_freq_base(c.rope_parameters["rope_theta"])
    writer.add_layer_norm_rms_eps(c.rms_norm_eps)
    writer.add_rope_dimension_count(c.hidden_size // c.num_attention_heads)
    writer.add_vocab_size(c.vocab_size)
    vocabulary = tokenizer.get_vocab()
    tokens = [None] * len(vocabulary)
    for token, index in vocabulary.items():
        tokens[index] = token
    merges = json.loads(tokenizer.to_str())["model"]["merges"]
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("smollm")
    writer.add_token_list(tokens)
    writer.add_token_types([3 if token in SPECIAL else 1 for token in tokens])
    writer.add_token_merges([" ".join(merge) if isinstance(merge, list) else merge for merge in merges])
    writer.add_bos_token_id(vocabulary["<|im_start|>"])
    writer.add_eos_token_id(vocabulary["<|im_end|>"])
    writer.add_chat_template(CHAT_TEMPLATE)
    state = model.state_dict()

    def add(name, tensor):
        if tensor.dim() == 1:
            writer.add_tensor(name, tensor.float().numpy())
        else:
            writer.add_tensor(name, bf16(tensor), raw_dtype=GGMLQuantizationType.BF16)

    add("token_embd.weight", state["model.embed_tokens.weight"])
    for layer in range(c.num_hidden_layers):
        hf, base = f"model.layers.{layer}.", f"blk.{layer}."
        add(base + "attn_norm.weight", state[hf + "input_layernorm.weight"])
        add(base + "attn_q.weight", permute(state[hf + "self_attn.q_proj.weight"], c.num_attention_heads))
        add(base + "attn_k.weight", permute(state[hf + "self_attn.k_proj.weight"], c.num_key_value_heads))
        add(base + "attn_v.weight", state[hf + "self_attn.v_proj.weight"])
        add(base + "attn_output.weight", state[hf + "self_attn.o_proj.weight"])
        add(base + "ffn_norm.weight", state[hf + "post_attention_layernorm.weight"])
        add(base + "ffn_gate.weight", state[hf + "mlp.gate_proj.weight"])
        add(base + "ffn_up.weight", state[hf + "mlp.up_proj.weight"])
        add(base + "ffn_down.weight", state[hf + "mlp.down_proj.weight"])
    add("output_norm.weight", state["model.norm.weight"])
    add("output.weight", state["lm_head.weight"])
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def main():
    os.makedirs(HF, exist_ok=True)
    tokenizer = train_tokenizer()
    model = make_model(tokenizer.get_vocab_size())
    model.config.bos_token_id = tokenizer.token_to_id("<|im_start|>")
    model.config.eos_token_id = tokenizer.token_to_id("<|im_end|>")
    model.generation_config.bos_token_id = model.config.bos_token_id
    model.generation_config.eos_token_id = model.config.eos_token_id
    model.save_pretrained(HF, safe_serialization=True)
    tokenizer.save(os.path.join(HF, "tokenizer.json"))
    with open(os.path.join(HF, "tokenizer_config.json"), "w") as f:
        json.dump({
            "tokenizer_class": "GPT2Tokenizer", "bos_token": "<|im_start|>", "eos_token": "<|im_end|>",
            "model_max_length": 256, "chat_template": CHAT_TEMPLATE,
        }, f, indent=2)
    write_gguf(model, tokenizer, os.path.join(FIXTURE, "tiny-llama.gguf"))

    reference = LlamaForCausalLM.from_pretrained(HF, dtype=torch.float32, attn_implementation="eager").eval()
    prompts = []
    with torch.no_grad():
        for text in PROMPTS:
            ids = tokenizer.encode(text).ids
            logits = reference(torch.tensor([ids])).logits[0]
            prompts.append({"text": text, "ids": ids, "logits": [[round(float(v), 6) for v in row] for row in logits]})
    strings = [{"text": text, "ids": tokenizer.encode(text).ids} for text in STRINGS]
    for case in strings:
        assert tokenizer.decode(case["ids"], skip_special_tokens=False) == case["text"], case
    with open(os.path.join(ROOT, "tests", "golden", "tiny_llama.json"), "w") as f:
        json.dump({"source": "transformers fp32 (eager) on tests/fixtures/tiny-llama/hf", "strings": strings, "prompts": prompts}, f, ensure_ascii=False)
        f.write("\n")


main()
