#!/usr/bin/env python3
"""Writes tiny random-weight checkpoints of the Llama family with Hugging Face transformers, plus the outputs
transformers itself computes for them (logits, hidden states, greedy ids), in the same golden.json layout as
tests/fixtures/hf-llama-tiny. Run where transformers is installed (the GPU machine; nothing here needs a GPU):

    python3 scripts/gpu/make_fixtures.py OUT_DIR

Each fixture exercises something hf-llama-tiny does not:
  llama3-tied      Llama 3.1 rope scaling (llama3), tied embeddings, config in the transformers-4 spelling
  qwen2-bias       Qwen2: q/k/v biases
  mistral-window   Mistral with a sliding window shorter than the longer prompt
  llama-linear-bf16-sharded  linear rope scaling, bf16 weights, sharded safetensors with an index
  llama-bias-f16   Llama with attention_bias and mlp_bias, f16 weights
"""
import json
import os
import sys

import torch
from transformers import (AutoModelForCausalLM, LlamaConfig, LlamaForCausalLM, MistralConfig,
                          MistralForCausalLM, Qwen2Config, Qwen2ForCausalLM)

COMMON = dict(hidden_size=64, intermediate_size=160, num_hidden_layers=3, num_attention_heads=4,
              num_key_value_heads=2, vocab_size=512, max_position_embeddings=256, rms_norm_eps=1e-5,
              initializer_range=0.1, bos_token_id=1, eos_token_id=2)


def fixtures():
    yield "llama3-tied", LlamaForCausalLM, LlamaConfig(
        **COMMON, head_dim=16, tie_word_embeddings=True,
        rope_parameters=dict(rope_type="llama3", rope_theta=500000.0, factor=8.0, low_freq_factor=1.0,
                             high_freq_factor=4.0, original_max_position_embeddings=32)), torch.float32, None, True
    yield "qwen2-bias", Qwen2ForCausalLM, Qwen2Config(**COMMON, tie_word_embeddings=False), torch.float32, None, False
    yield "mistral-window", MistralForCausalLM, MistralConfig(
        **COMMON, head_dim=16, sliding_window=6, tie_word_embeddings=False), torch.float32, None, False
    yield "llama-linear-bf16-sharded", LlamaForCausalLM, LlamaConfig(
        **COMMON, head_dim=16, tie_word_embeddings=False,
        rope_parameters=dict(rope_type="linear", rope_theta=10000.0, factor=2.0)), torch.bfloat16, "100KB", False
    yield "llama-bias-f16", LlamaForCausalLM, LlamaConfig(
        **COMMON, head_dim=16, attention_bias=True, mlp_bias=True, tie_word_embeddings=False), torch.float16, None, False


def to_transformers4_spelling(path):
    """Rewrite config.json the way transformers 4.x writes it: rope_theta + rope_scaling at the top level."""
    with open(path) as f:
        cfg = json.load(f)
    params = cfg.pop("rope_parameters")
    cfg["rope_theta"] = params.pop("rope_theta")
    cfg["rope_scaling"] = params
    with open(path, "w") as f:
        json.dump(cfg, f, indent=2)


def main(out):
    for i, (name, cls, config, dtype, shard, v4) in enumerate(fixtures()):
        torch.manual_seed(1234 + i)
        model = cls(config).eval()
        if hasattr(model.config, "_attn_implementation"):
            model.config._attn_implementation = "eager"
        with torch.no_grad():
            # Biases are zero-initialised; make them matter.
            for pname, p in model.named_parameters():
                if pname.endswith(".bias"):
                    p.normal_(0, 0.1)
        model = model.to(dtype)
        d = os.path.join(out, name)
        kwargs = dict(safe_serialization=True)
        if shard:
            kwargs["max_shard_size"] = shard
        model.save_pretrained(d, **kwargs)
        if v4:
            to_transformers4_spelling(os.path.join(d, "config.json"))

        # The reference computes in float32 from the stored (possibly bf16/f16) weights, reloaded from disk.
        ref = AutoModelForCausalLM.from_pretrained(d, dtype=torch.float32, attn_implementation="eager").eval()
        gen = torch.Generator().manual_seed(99 + i)
        cases = []
        for n in (7, 13):
            ids = torch.randint(3, 512, (1, n), generator=gen)
            with torch.no_grad():
                o = ref(ids, output_hidden_states=True)
                g = ref.generate(ids, max_new_tokens=24, do_sample=False, pad_token_id=0)
            cases.append(dict(
                prompt_ids=ids[0].tolist(),
                logits=o.logits[0].float().tolist(),
                hidden_states=[h[0].float().tolist() for h in o.hidden_states],
                greedy_new_ids=g[0, n:].tolist()))
        import transformers
        with open(os.path.join(d, "golden.json"), "w") as f:
            json.dump(dict(transformers_version=transformers.__version__, torch_version=torch.__version__,
                           cases=cases), f)
        print(name, "->", sorted(os.listdir(d)))


if __name__ == "__main__":
    main(sys.argv[1])
