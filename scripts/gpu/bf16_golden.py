#!/usr/bin/env python3
"""bf16 against bf16: for each conformance fixture, writes a copy whose golden.json holds what Hugging Face
transformers computes in bf16 on CUDA (eager attention), so `actorllm conformance --dtype bf16 --device cuda`
compares like with like (the fixtures' own golden outputs are float32):

    python3 bf16_golden.py OUT_DIR FIXTURE_DIR...
"""
import json
import os
import shutil
import sys

import torch
from transformers import AutoModelForCausalLM


def main(out, fixtures):
    for src in fixtures:
        name = os.path.basename(os.path.normpath(src))
        dst = os.path.join(out, name)
        shutil.copytree(src, dst, dirs_exist_ok=True)
        with open(os.path.join(src, "golden.json")) as f:
            golden = json.load(f)
        model = AutoModelForCausalLM.from_pretrained(dst, dtype=torch.bfloat16, attn_implementation="eager").cuda().eval()
        cases = []
        for c in golden["cases"]:
            ids = torch.tensor([c["prompt_ids"]], device="cuda")
            with torch.no_grad():
                o = model(ids, output_hidden_states=True)
                g = model.generate(ids, max_new_tokens=len(c["greedy_new_ids"]), do_sample=False, pad_token_id=0)
            cases.append(dict(prompt_ids=c["prompt_ids"], logits=o.logits[0].float().tolist(),
                              hidden_states=[h[0].float().tolist() for h in o.hidden_states],
                              greedy_new_ids=g[0, ids.shape[1]:].tolist()))
        with open(os.path.join(dst, "golden.json"), "w") as f:
            json.dump(dict(note="transformers bf16 on CUDA", cases=cases), f)
        print(f"{name}: bf16 golden written", flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
