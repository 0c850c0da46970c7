#!/usr/bin/env bash
# The GPU engine benchmark (issue 8), one command on the GPU machine from the repository root, after
# scripts/gpu/pack.sh here (carry .gpu-pack):
#
#   bash scripts/gpu/bench.sh [SHAPE] [NEW_TOKENS]        # SHAPE: llama3-8b (default), llama3-1b, tiny
#   CASES="torch single pools check" (default: all) picks the parts; BATCHES (default 1,16,64).
#
# In one run, on one GPU, same shape and lengths (128-token prompts, NEW_TOKENS new, greedy, bf16, random weights):
#   torch   the gpt-fast-style PyTorch baseline (scripts/gpu/torch_baseline.py): reduce-overhead (CUDA graphs), eager;
#   single  `actorllm bench` in one process: decode by graph replay (libActorLlmNative, built first), and eager;
#   pools   gateway + 1 GPU worker, gateway + 2 workers sharing the GPU (scripts/gpu/pool-bench.sh), 1 and 16 jobs;
#   check   `actorllm graph-check`: replay == eager fixed-rows pass bit for bit in every bucket, 10,000 replays flat;
# then prints every figure with its ratio to the compiled baseline at the same batch. Everything goes to $OUT.
set -uo pipefail
SHAPE=${1:-llama3-8b}
NEW=${2:-128}
OUT=${OUT:-/tmp/bench-out}
BATCHES=${BATCHES:-1,16,64}
CASES=${CASES:-torch single pools check}
mkdir -p "$OUT"
want() { [[ " $CASES " == *" $1 "* ]]; }
log() { echo "$@" | tee -a "$OUT/summary.log"; }

log "== $(date -u +%FT%TZ) $(nvidia-smi --query-gpu=name,memory.total --format=csv,noheader), $(nproc) cores; shape $SHAPE, new $NEW"
bash scripts/gpu/build-native.sh /tmp/native 2>&1 | tail -3 | tee -a "$OUT/summary.log"
source scripts/gpu/env.sh
log "native library: ${ACTORLLM_NATIVE:-none}"

W=/tmp/bench-$SHAPE
if want single || want pools || want check; then
  if [ ! -f "$W/store/manifest.json" ]; then
    python3 scripts/gpu/make_bench_model.py "$W/hf" --shape "$SHAPE" 2>&1 | tail -1 | tee -a "$OUT/summary.log"
    "$ACTORLLM" convert "$W/hf" "$W/store" 2>&1 | tail -1 | tee -a "$OUT/summary.log"
    rm -f "$W"/hf/*.safetensors   # the store has the weights; keep the disk for the page cache
  fi
fi
if want torch; then
  python3 scripts/gpu/torch_baseline.py --shape "$SHAPE" --batches "$BATCHES" --new-tokens "$NEW" 2>"$OUT/torch.err" | tee "$OUT/torch.txt"
fi
if want single; then
  for g in on off; do
    "$ACTORLLM" bench --model "$W/store" --device cuda --dtype bf16 --batch "$BATCHES" --prompt-tokens 128 --new-tokens "$NEW" --graphs $g \
      2>>"$OUT/stderr.log" | tee "$OUT/actorllm-graphs-$g.txt"
  done
fi
if want check; then
  # every bucket on the bundled model (10,000 replays for the leak check), then on SHAPE (fewer: each is a full step)
  "$ACTORLLM" graph-check --device cuda --dtype bf16 --sessions 64 --context 256 --replays 10000 2>>"$OUT/stderr.log" | tee "$OUT/graph-check.txt"
  "$ACTORLLM" graph-check --model "$W/store" --device cuda --dtype bf16 --sessions 64 --context 256 --replays 1000 2>>"$OUT/stderr.log" | tee -a "$OUT/graph-check.txt"
fi
if want pools; then
  OUT="$OUT" CASES=pools bash scripts/gpu/pool-bench.sh "$SHAPE" "$NEW" >/dev/null
fi

python3 - "$OUT" <<'PY'
import re, sys, os
out = sys.argv[1]
def read(name):
    p = os.path.join(out, name)
    return open(p).read() if os.path.exists(p) else ""
base = {int(b): float(t) for b, t in re.findall(r"torch compiled batch\s+(\d+): decode\s+[\d.]+ ms/step,\s+([\d.]+) tokens/s", read("torch.txt"))}
rows = []
for b, t in re.findall(r"torch eager\s+batch\s+(\d+): decode\s+[\d.]+ ms/step,\s+([\d.]+) tokens/s", read("torch.txt")):
    rows.append(("PyTorch eager", int(b), float(t)))
for g, label in (("on", "actorllm bench, graph replay"), ("off", "actorllm bench, eager")):
    for b, t in re.findall(r"batch\s+(\d+): prefill .*?,\s+([\d.]+) tokens/s aggregate", read(f"actorllm-graphs-{g}.txt")):
        rows.append((label, int(b), float(t)))
title = None
for line in read("bench.log").splitlines():
    if line.startswith("== pool:"):
        title = line[len("== pool: "):]
    m = re.match(r"jobs\s+(\d+):\s+([\d.]+) tokens/s aggregate", line)
    if m and title:
        rows.append((f"pool: {title}", int(m.group(1)), float(m.group(2))))
print("\n== summary (tokens/s; ratio to the PyTorch CUDA-graph baseline at the same batch / job count)")
for b, t in sorted(base.items()):
    print(f"{'PyTorch reduce-overhead (baseline)':60s} batch {b:3d}: {t:9.1f}")
for label, b, t in rows:
    ratio = f"{t / base[b]:.2f}x" if b in base else "n/a"
    print(f"{label[:60]:60s} batch {b:3d}: {t:9.1f}  {ratio}")
PY
