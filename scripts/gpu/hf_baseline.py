#!/usr/bin/env python3
"""Hugging Face transformers baseline on the same checkpoint and lengths as the pool benchmark:

    python3 hf_baseline.py MODEL_DIR [--batches 1,16] [--prompt-tokens 128] [--new-tokens 128] [--max-memory 0=4GiB,cpu=100GiB]

Loads with device_map="auto" (every visible GPU; with --max-memory, accelerate fills each device up to its limit and
offloads the rest to the CPU, as issue 10's baseline does), bf16, eager generate, greedy, EOS ignored. The prompt is the
same kind as `actorllm bench-cluster` sends (byte ids of ASCII letters). Prints one line per batch size.
"""
import argparse
import time

import torch
from transformers import AutoModelForCausalLM


def main():
    p = argparse.ArgumentParser()
    p.add_argument("model")
    p.add_argument("--batches", default="1,16")
    p.add_argument("--prompt-tokens", type=int, default=128)
    p.add_argument("--new-tokens", type=int, default=128)
    p.add_argument("--max-memory", default="", help='e.g. "0=4GiB,cpu=100GiB": accelerate\'s max_memory per device')
    a = p.parse_args()
    t = time.time()
    extra = {}
    if a.max_memory:
        extra["max_memory"] = {(int(k) if k.isdigit() else k): v for k, v in (kv.split("=") for kv in a.max_memory.split(","))}
    model = AutoModelForCausalLM.from_pretrained(a.model, dtype=torch.bfloat16, device_map="auto", **extra).eval()
    devices = sorted(set(str(v) for v in getattr(model, "hf_device_map", {"": next(model.parameters()).device}).values()))
    print(f"hf: loaded in {time.time() - t:.0f} s over {devices}", flush=True)
    device = next(model.parameters()).device
    for b in [int(x) for x in a.batches.split(",")]:
        ids = torch.tensor([[97 + ((i * 7 + (j + 1) * 13) % 26) for i in range(a.prompt_tokens)] for j in range(b)], device=device)
        kwargs = dict(max_new_tokens=a.new_tokens, min_new_tokens=a.new_tokens, do_sample=False, pad_token_id=0)
        with torch.no_grad():
            model.generate(ids, **{**kwargs, "max_new_tokens": 8, "min_new_tokens": 8})
            torch.cuda.synchronize()
            t = time.time()
            out = model.generate(ids, **kwargs)
            torch.cuda.synchronize()
        seconds = time.time() - t
        generated = (out.shape[1] - ids.shape[1]) * b
        print(f"hf batch {b:3}: {generated / seconds:10.3f} tokens/s aggregate ({generated} tokens in {seconds:.2f} s, prefill included)", flush=True)


if __name__ == "__main__":
    main()
