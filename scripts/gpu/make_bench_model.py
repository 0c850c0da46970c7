#!/usr/bin/env python3
"""Writes a random-weight Llama-shaped checkpoint for benchmarks (nothing can be downloaded on the GPU machine):

    python3 make_bench_model.py OUT_DIR [--shape llama3-8b|llama3-1b|llama3-70b|tiny] [--tokenizer-only]

Weights: transformers' own initialisation (LlamaForCausalLM._from_config, bf16), written with save_pretrained.
Tokenizer: a byte-level BPE with no merges whose vocabulary covers every id of the model (256 byte symbols, then
"<fN>" fillers), so any ASCII prompt of N characters is exactly N tokens and every generated id decodes.
"""
import argparse
import json
import os

SHAPES = {
    # Meta-Llama-3-8B: 32 layers, hidden 4096, GQA 32/8, SwiGLU 14336, vocab 128256, rope theta 500000.
    "llama3-8b": dict(hidden_size=4096, intermediate_size=14336, num_hidden_layers=32, num_attention_heads=32,
                      num_key_value_heads=8, vocab_size=128256, rope_theta=500000.0),
    "llama3-1b": dict(hidden_size=2048, intermediate_size=8192, num_hidden_layers=16, num_attention_heads=32,
                      num_key_value_heads=8, vocab_size=128256, rope_theta=500000.0, tie_word_embeddings=True),
    "llama3-70b": dict(hidden_size=8192, intermediate_size=28672, num_hidden_layers=80, num_attention_heads=64,
                       num_key_value_heads=8, vocab_size=128256, rope_theta=500000.0),
    "tiny": dict(hidden_size=64, intermediate_size=160, num_hidden_layers=4, num_attention_heads=4,
                 num_key_value_heads=2, vocab_size=1024, rope_theta=10000.0),
}


def bytes_to_unicode():
    """GPT-2's byte-level alphabet: every byte as a printable character."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, (chr(c) for c in cs)))


def write_tokenizer(out, vocab_size, bos, eos):
    alphabet = bytes_to_unicode()
    vocab = {alphabet[b]: b for b in range(256)}
    for i in range(256, vocab_size):
        vocab[f"<f{i}>"] = i
    tokenizer = {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": [], "normalizer": None,
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False},
        "post_processor": None,
        "decoder": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False},
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
                  "vocab": vocab, "merges": []},
    }
    with open(os.path.join(out, "tokenizer.json"), "w") as f:
        json.dump(tokenizer, f)
    with open(os.path.join(out, "tokenizer_config.json"), "w") as f:
        json.dump({"add_bos_token": False, "add_eos_token": False, "tokenizer_class": "PreTrainedTokenizerFast",
                   "bos_token": f"<f{bos}>", "eos_token": f"<f{eos}>"}, f)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("out")
    p.add_argument("--shape", default="llama3-8b", choices=sorted(SHAPES))
    p.add_argument("--tokenizer-only", action="store_true")
    a = p.parse_args()
    shape = dict(SHAPES[a.shape])
    os.makedirs(a.out, exist_ok=True)
    bos, eos = (128000, 128001) if shape["vocab_size"] > 128001 else (shape["vocab_size"] - 2, shape["vocab_size"] - 1)
    write_tokenizer(a.out, shape["vocab_size"], bos, eos)
    if a.tokenizer_only:
        return

    import time
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM
    cfg = LlamaConfig(**shape, max_position_embeddings=8192, rms_norm_eps=1e-5, bos_token_id=bos, eos_token_id=eos,
                      head_dim=shape["hidden_size"] // shape["num_attention_heads"])
    t = time.time()
    with torch.device("cuda" if torch.cuda.is_available() else "cpu"):
        model = LlamaForCausalLM._from_config(cfg, dtype=torch.bfloat16)
    model.save_pretrained(a.out, safe_serialization=True)
    n = sum(p.numel() for p in model.parameters())
    print(f"{a.shape}: {n / 1e9:.2f} B parameters written to {a.out} in {time.time() - t:.0f} s", flush=True)


if __name__ == "__main__":
    main()
