import torch
from torch.profiler import profile, ProfilerActivity
x = torch.randn(1, 1, 4096, device="cuda", dtype=torch.bfloat16); w = torch.ones(4096, device="cuda", dtype=torch.bfloat16)
for name, f in [("rms_norm", lambda: torch.rms_norm(x, (4096,), w, 1e-5)),
                ("index_put", lambda: None)]:
    f(); torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CUDA]) as p:
        f(); torch.cuda.synchronize()
    print(name, [e.name[:60] for e in p.events() if e.device_type == torch.autograd.DeviceType.CUDA])
cache = torch.zeros(64, 8, 257, 128, device="cuda", dtype=torch.bfloat16); k = torch.randn(64, 1, 8, 128, device="cuda", dtype=torch.bfloat16)
slots = torch.arange(64, device="cuda").view(64, 1); pos = torch.full((64, 1), 100, device="cuda")
q = torch.randn(64, 8, 4, 128, device="cuda", dtype=torch.bfloat16); bias = torch.zeros(64, 1, 1, 256, device="cuda", dtype=torch.bfloat16)
for name, f in [("index_put", lambda: cache.index_put_((slots, slice(None), pos), k) if False else cache.__setitem__((slots, slice(None), pos), k)),
                ("sdpa", lambda: torch.nn.functional.scaled_dot_product_attention(q, cache[:, :, :256], cache[:, :, :256], attn_mask=bias)),
                ("roll", lambda: k.roll(64, -1))]:
    f(); torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CUDA]) as p:
        f(); torch.cuda.synchronize()
    print(name, [e.name[:70] for e in p.events() if e.device_type == torch.autograd.DeviceType.CUDA])
