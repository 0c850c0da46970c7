#!/usr/bin/env python3
"""The PyTorch baseline for the GPU engine (issue 8): a gpt-fast-style Llama decoder, written here, in the same run as
ActorLlm and on the same shape and lengths:

    python3 torch_baseline.py [--shape llama3-8b] [--batches 1,16,64] [--prompt-tokens 128] [--new-tokens 128]
                              [--modes compiled,eager]

What "gpt-fast-style" means here: fused q/k/v and gate/up projections, a static KV cache of [B, KV, S, D] written in
place at the step's position, S = prompt + new tokens, scaled_dot_product_attention with GQA and a boolean mask row,
RMSNorm in float32, rotary tables precomputed, greedy argmax inside the step; the decode step compiled with
torch.compile(mode="reduce-overhead", fullgraph=True), i.e. Inductor's fused kernels replayed as a CUDA graph.
Prefill runs eagerly (it is not what is compared). Weights are random bf16 (normal, std 0.02; norms ones), made on
the GPU. Prints one line per mode and batch: ms per decode step and tokens/s, in the format scripts/gpu/bench.sh reads.
"""
import argparse
import time

import torch
import torch.nn.functional as F

SHAPES = {
    "llama3-8b": dict(dim=4096, inter=14336, layers=32, heads=32, kv_heads=8, vocab=128256, theta=500000.0),
    "llama3-1b": dict(dim=2048, inter=8192, layers=16, heads=32, kv_heads=8, vocab=128256, theta=500000.0),
    "tiny": dict(dim=64, inter=160, layers=4, heads=4, kv_heads=2, vocab=1024, theta=10000.0),
}


class Model(torch.nn.Module):
    def __init__(self, s, max_batch, max_seq, device, dtype=torch.bfloat16):
        super().__init__()
        self.s = s
        d, hd = s["dim"], s["dim"] // s["heads"]
        self.hd = hd
        qkv = (s["heads"] + 2 * s["kv_heads"]) * hd

        def w(*shape):
            return (torch.randn(*shape, device=device, dtype=dtype) * 0.02)

        self.embed = w(s["vocab"], d)
        self.wqkv = [w(qkv, d) for _ in range(s["layers"])]
        self.wo = [w(d, s["heads"] * hd) for _ in range(s["layers"])]
        self.w13 = [w(2 * s["inter"], d) for _ in range(s["layers"])]
        self.w2 = [w(d, s["inter"]) for _ in range(s["layers"])]
        self.n1 = [torch.ones(d, device=device, dtype=dtype) for _ in range(s["layers"])]
        self.n2 = [torch.ones(d, device=device, dtype=dtype) for _ in range(s["layers"])]
        self.norm = torch.ones(d, device=device, dtype=dtype)
        self.head = w(s["vocab"], d)
        self.kc = [torch.zeros(max_batch, s["kv_heads"], max_seq, hd, device=device, dtype=dtype) for _ in range(s["layers"])]
        self.vc = [torch.zeros(max_batch, s["kv_heads"], max_seq, hd, device=device, dtype=dtype) for _ in range(s["layers"])]
        inv = 1.0 / (s["theta"] ** (torch.arange(0, hd, 2, device=device, dtype=torch.float32) / hd))
        f = torch.outer(torch.arange(max_seq, device=device, dtype=torch.float32), inv)
        emb = torch.cat([f, f], -1)
        self.cos, self.sin = emb.cos().to(dtype), emb.sin().to(dtype)
        self.causal = torch.tril(torch.ones(max_seq, max_seq, dtype=torch.bool, device=device))

    @staticmethod
    def rms(x, w, eps=1e-5):
        x32 = x.float()
        return (x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + eps)).type_as(x) * w

    @staticmethod
    def rope(x, cos, sin):  # x [B, H, T, D]; cos/sin [T, D]
        h = x.shape[-1] // 2
        rot = torch.cat([-x[..., h:], x[..., :h]], -1)
        return x * cos + rot * sin

    def forward(self, ids, pos):  # ids [B, T], pos [T] int64; returns greedy next token [B]
        s, hd = self.s, self.hd
        b, t = ids.shape
        H, KV = s["heads"], s["kv_heads"]
        x = F.embedding(ids, self.embed)
        cos, sin = self.cos[pos], self.sin[pos]
        mask = self.causal[pos].view(1, 1, t, -1)
        for i in range(s["layers"]):
            h = self.rms(x, self.n1[i])
            q, k, v = F.linear(h, self.wqkv[i]).split([H * hd, KV * hd, KV * hd], -1)
            q = self.rope(q.view(b, t, H, hd).transpose(1, 2), cos, sin)
            k = self.rope(k.view(b, t, KV, hd).transpose(1, 2), cos, sin)
            v = v.view(b, t, KV, hd).transpose(1, 2)
            self.kc[i][:b, :, pos] = k
            self.vc[i][:b, :, pos] = v
            a = F.scaled_dot_product_attention(q, self.kc[i][:b], self.vc[i][:b], attn_mask=mask, enable_gqa=True)
            x = x + F.linear(a.transpose(1, 2).reshape(b, t, H * hd), self.wo[i])
            g, u = F.linear(self.rms(x, self.n2[i]), self.w13[i]).chunk(2, -1)
            x = x + F.linear(F.silu(g) * u, self.w2[i])
        logits = F.linear(self.rms(x[:, -1], self.norm), self.head).float()
        return logits.argmax(-1)


def run(model, step, batch, prompt, new, vocab):
    ids = torch.randint(3, vocab, (batch, prompt), device="cuda")
    with torch.no_grad():
        tok = model(ids, torch.arange(prompt, device="cuda"))
        torch.cuda.synchronize()
        t = time.perf_counter()
        for i in range(1, new):
            pos = torch.tensor([prompt + i - 1], device="cuda")
            tok = step(tok.view(batch, 1).clone(), pos)
        torch.cuda.synchronize()
        return (time.perf_counter() - t) / (new - 1)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--shape", default="llama3-8b", choices=sorted(SHAPES))
    p.add_argument("--batches", default="1,16,64")
    p.add_argument("--prompt-tokens", type=int, default=128)
    p.add_argument("--new-tokens", type=int, default=128)
    p.add_argument("--modes", default="compiled,eager")
    a = p.parse_args()
    batches = [int(x) for x in a.batches.split(",")]
    s = SHAPES[a.shape]
    torch.manual_seed(0)
    model = Model(s, max(batches), a.prompt_tokens + a.new_tokens, "cuda")
    print(f"# torch {torch.__version__} on {torch.cuda.get_device_name()}: gpt-fast-style {a.shape}, bf16, "
          f"prompt {a.prompt_tokens}, new {a.new_tokens}", flush=True)
    for mode in a.modes.split(","):
        for b in batches:
            if mode == "compiled":
                # One static-shape compile per batch size (dynamic=False), as gpt-fast runs one batch size per process.
                torch._dynamo.reset()
                step = torch.compile(model.forward, mode="reduce-overhead", fullgraph=True, dynamic=False)
            else:
                step = model.forward
            t = time.time()
            run(model, step, b, a.prompt_tokens, 8, s["vocab"])  # warm-up (and compile)
            warm = time.time() - t
            ms = run(model, step, b, a.prompt_tokens, a.new_tokens, s["vocab"]) * 1000
            print(f"torch {mode:8s} batch {b:3d}: decode {ms:7.2f} ms/step, {b * 1000 / ms:9.1f} tokens/s aggregate"
                  f" (warm-up {warm:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
