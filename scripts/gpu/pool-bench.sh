#!/usr/bin/env bash
# The multi-GPU benchmark (issue 4), run on the GPU machine from the repository root after scripts/gpu/pack.sh
# here (carry .gpu-pack):
#
#   bash scripts/gpu/pool-bench.sh [SHAPE] [NEW_TOKENS]      # SHAPE: llama3-8b (default), llama3-1b, tiny
#   CASES="single hf pools hetero" (default: all) picks the measurements.
#
# 1. writes a random-weight checkpoint of SHAPE with transformers (save_pretrained) and converts it to a unit store;
# 2. measures device-to-device copy bandwidth (the floor: weight bytes / bandwidth per decode step);
# 3. single-process decode (actorllm bench) and the Hugging Face baseline (device_map="auto") on the same checkpoint;
# 4. pools of `actorllm node` processes: a gateway plus one worker per GPU, each seeing only its GPU; on a machine
#    with one GPU, also two workers sharing it; then a heterogeneous pool (GPU workers plus one CPU worker holding
#    the layers the GPUs are given no memory for); each measured with `actorllm bench-cluster` (batch 1 and 16
#    concurrent jobs, 128-token prompts, bf16 on the GPUs).
# Everything is logged to $OUT/bench.log as it is measured; node logs go to $OUT/nodes-*.log on failure.
set -uo pipefail
source scripts/gpu/env.sh
OUT=${OUT:-/tmp/pool-bench-out}
mkdir -p "$OUT"
SHAPE=${1:-llama3-8b}
NEW=${2:-128}
W=/tmp/bench-$SHAPE
mkdir -p "$W"
PORT=4050
HTTP_PORT=8080
# The gateways' API key (the benchmark's own; bench-cluster --api reads it from ACTORLLM_API_KEY).
export ACTORLLM_API_KEYS=pool-bench-key ACTORLLM_API_KEY=pool-bench-key
log() { echo "$@" | tee -a "$OUT/bench.log"; }
run() { "$@" 2>>"$OUT/stderr.log" | tee -a "$OUT/bench.log"; }

G=$(nvidia-smi -L | wc -l)
log "== $(date -u +%FT%TZ) machine: $(nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | sort | uniq -c | xargs), $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB RAM; shape $SHAPE"

if [ ! -f "$W/store/manifest.json" ]; then
  run python3 scripts/gpu/make_bench_model.py "$W/hf" --shape "$SHAPE"
  run "$ACTORLLM" convert "$W/hf" "$W/store"
fi
run "$ACTORLLM" info "$W/store" --dtype bf16 --context 256
BYTES=$(du -sb "$W/store" | cut -f1)
run python3 - "$BYTES" <<'EOF'
import sys, time, torch
x = torch.empty(2 * 1024**3, dtype=torch.uint8, device="cuda"); y = torch.empty_like(x)
for _ in range(3): y.copy_(x)
torch.cuda.synchronize(); t = time.time()
for _ in range(20): y.copy_(x)
torch.cuda.synchronize(); dt = (time.time() - t) / 20
bw = 2 * x.numel() / dt  # bytes read + written
weights = int(sys.argv[1])
print(f"copy bandwidth {bw / 1e12:.2f} TB/s (read+write); floor for batch-1 decode: {weights / 1e9:.2f} GB of weights read per token"
      f" / {bw / 1e12:.2f} TB/s = {weights / bw * 1e3:.2f} ms per token = {bw / weights:.0f} tokens/s (one GPU)")
EOF

CASES=${CASES:-single hf pools hetero}
want() { [[ " $CASES " == *" $1 "* ]]; }
if want single; then
  log "== single process (actorllm bench, cuda bf16)"
  run "$ACTORLLM" bench --model "$W/store" --device cuda --dtype bf16 --batch 1,16 --prompt-tokens 128 --new-tokens "$NEW"
fi
if want hf; then
  log "== Hugging Face transformers, device_map=auto over $G GPU(s)"
  run python3 scripts/gpu/hf_baseline.py "$W/hf" --batches 1,16 --prompt-tokens 128 --new-tokens "$NEW"
fi

PIDS=()
start_gateway() {
  "$ACTORLLM" node --roles gateway --host 127.0.0.1 --port $PORT --seeds 127.0.0.1:$PORT --model "$W/store" \
    --cache-dir "$W/cache-gw" --machine gateway --http-port $HTTP_PORT --tls off --set actorllm.worker.max-context=512 >"$W/gateway.log" 2>&1 &
  PIDS+=($!)
  wait_up "$W/gateway.log"
}
# start_worker NAME GPU|cpu MEMORY DTYPE
start_worker() {
  local name=$1 gpu=$2 mem=$3 dtype=$4 devices=cuda:0 visible=$2 threads=2
  if [ "$gpu" = cpu ]; then devices=cpu; visible=""; threads=8; fi
  CUDA_VISIBLE_DEVICES=$visible "$ACTORLLM" node --roles worker --host 127.0.0.1 --port 0 --seeds 127.0.0.1:$PORT \
    --model "$W/store" --cache-dir "$W/cache-$name" --machine "$name" --devices $devices --dtype "$dtype" \
    --memory-limit "$mem" --torch-threads $threads --tls off --set actorllm.worker.max-context=512 >"$W/$name.log" 2>&1 &
  PIDS+=($!)
}
wait_up() { for _ in $(seq 1 240); do grep -q "actorllm node up" "$1" && return 0; sleep 0.5; done; echo "node did not come up: $1"; return 1; }
stop_pool() {
  kill -TERM "${PIDS[@]}" 2>/dev/null; for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done; PIDS=()
}
bench_pool() { # TITLE DEVICES JOBS
  log "== pool: $1"
  if ! run "$ACTORLLM" bench-cluster --cluster 127.0.0.1:$PORT --api http://127.0.0.1:$HTTP_PORT --wait-devices "$2" --jobs "$3" --prompt-chars 128 --new-tokens "$NEW" --timeout 240; then
    for f in "$W"/*.log; do cp "$f" "$OUT/nodes-$(basename "$f")"; done
  fi
  stop_pool
}

GPU_MEM=$(( $(nvidia-smi --query-gpu=memory.free --format=csv,noheader,nounits -i 0) * 1024 * 1024 * 9 / 10 ))
if want pools; then
start_gateway
for g in $(seq 0 $((G - 1))); do start_worker "gpu$g" "$g" "$GPU_MEM" bf16; done
bench_pool "gateway + $G worker(s), one per GPU" "$G" 1,16
fi

if want pools && [ "$G" -eq 1 ]; then
  start_gateway
  start_worker gpu0-a 0 $((GPU_MEM / 2)) bf16
  start_worker gpu0-b 0 $((GPU_MEM / 2)) bf16
  bench_pool "gateway + 2 workers sharing GPU 0 (two stages on one GPU)" 2 1,16
fi

# Heterogeneous: the GPUs get memory for all but ~1.2 GB of the weights (limit / headroom 0.9), the CPU the rest.
if want hetero; then
PER_GPU=$(( (BYTES - 1200000000) * 10 / 9 / G ))
start_gateway
for g in $(seq 0 $((G - 1))); do start_worker "gpu$g" "$g" "$PER_GPU" bf16; done
start_worker cpu0 cpu 16GiB f32
bench_pool "gateway + $G GPU worker(s) with room for part of the model + 1 CPU worker (f32) for the rest" $((G + 1)) 1,16
fi
log "== done $(date -u +%FT%TZ)"
