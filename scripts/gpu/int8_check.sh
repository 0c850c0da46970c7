#!/usr/bin/env bash
# 8-bit weights on the GPU (issue 10, parts 3-4), one command on the GPU machine from the repository root, after
# scripts/gpu/pack.sh here (carry .gpu-pack):
#
#   bash scripts/gpu/int8_check.sh [SHAPE] [NEW_TOKENS]     # SHAPE: llama3-8b (default), llama3-1b, tiny
#   CASES="stories prep quality bench check" (default: all) picks the parts; BATCHES (default 1,16).
#
#   stories  the bundled stories260K, int8 vs its f32 source on CUDA, in f32 and bf16: `actorllm quality` (max logit
#            difference, greedy agreement over 500 tokens, perplexity on texts the source samples);
#   prep     a random-weight SHAPE checkpoint made with transformers (make_bench_model.py, bf16), converted twice:
#            `convert` (bf16 store) and `convert --weights int8`; `info` of both (the memory estimates);
#   quality  `actorllm quality` int8 vs bf16 on SHAPE, cuda bf16: max |logit difference| over the prompts, greedy
#            agreement over NEW_TOKENS x 4 prompts (random weights: no perplexity), CUDA memory each model's stage holds;
#   bench    `actorllm bench` at BATCHES (128-token prompts, NEW_TOKENS new, graph replay on and off) for both stores,
#            with torch.cuda.memory_allocated after load;
#   check    `actorllm graph-check` on the int8 store: CUDA-graph replay == eager fixed-rows pass bit for bit.
# The parts share /tmp/int8-SHAPE (about 24 GiB of stores for llama3-8b; the transformers checkpoint is deleted once
# both are written). Everything goes to $OUT; the figures are summed up at the end. For llama3-8b the whole run is
# several minutes (writing and converting the checkpoint twice, then loading a store six times): where one command may
# not run that long, run the parts one after the other on the same machine, e.g. CASES="stories prep", then
# CASES="quality check", then CASES=bench.
set -uo pipefail
SHAPE=${1:-llama3-8b}
NEW=${2:-500}
OUT=${OUT:-/tmp/int8-out}
BATCHES=${BATCHES:-1,16}
CASES=${CASES:-stories prep quality bench check}
mkdir -p "$OUT"
want() { [[ " $CASES " == *" $1 "* ]]; }
log() { echo "$@" | tee -a "$OUT/summary.log"; }
# stdout to its own file and the summary; stderr (progress, load lines) to stderr.log.
run() { local f=$1; shift; "$@" 2>>"$OUT/stderr.log" | tee "$OUT/$f" | tee -a "$OUT/summary.log"; }

log "== $(date -u +%FT%TZ) $(nvidia-smi --query-gpu=name,memory.total --format=csv,noheader), $(nproc) cores; shape $SHAPE, new $NEW, cases: $CASES"
bash scripts/gpu/build-native.sh /tmp/native 2>&1 | tail -3 | tee -a "$OUT/summary.log"
source scripts/gpu/env.sh
log "native library: ${ACTORLLM_NATIVE:-none} (CUDA memory figures and graph replay need it)"

if want stories; then
  S=/tmp/int8-stories
  rm -rf "$S" && "$ACTORLLM" convert "$APP/models/stories260K" "$S" --weights int8 2>>"$OUT/stderr.log" | tee -a "$OUT/summary.log"
  log "== stories260K: int8 vs f32 source, cuda f32"
  run stories-f32.txt "$ACTORLLM" quality --model "$APP/models/stories260K" --compare "$S" --device cuda --dtype f32
  log "== stories260K: int8 vs f32 source, both computing in cuda bf16"
  run stories-bf16.txt "$ACTORLLM" quality --model "$APP/models/stories260K" --compare "$S" --device cuda --dtype bf16
fi

W=/tmp/int8-$SHAPE
if want prep; then
  if [ ! -f "$W/store/manifest.json" ] || [ ! -f "$W/int8/manifest.json" ]; then
    rm -rf "$W" && mkdir -p "$W"
    python3 scripts/gpu/make_bench_model.py "$W/hf" --shape "$SHAPE" 2>&1 | tail -1 | tee -a "$OUT/summary.log"
    "$ACTORLLM" convert "$W/hf" "$W/store" 2>>"$OUT/stderr.log" | tee -a "$OUT/summary.log"
    "$ACTORLLM" convert "$W/hf" "$W/int8" --weights int8 2>>"$OUT/stderr.log" | tee -a "$OUT/summary.log"
    rm -f "$W"/hf/*.safetensors   # the stores have the weights; keep the disk for the page cache
  fi
  log "disk: bf16 store $(du -sb "$W/store" | cut -f1) bytes, int8 store $(du -sb "$W/int8" | cut -f1) bytes"
  run info-bf16.txt "$ACTORLLM" info "$W/store" --dtype bf16 --context 1024
  run info-int8.txt "$ACTORLLM" info "$W/int8" --dtype bf16 --context 1024
fi

if want quality; then
  log "== $SHAPE random weights: int8 vs bf16, cuda bf16 (no held text: perplexity of random weights means nothing)"
  run quality.txt "$ACTORLLM" quality --model "$W/store" --compare "$W/int8" --device cuda --dtype bf16 \
    --greedy-tokens "$NEW" --held-texts 0 \
    --prompt "" --prompt "Once upon a time" --prompt "The quick brown fox jumps over the lazy dog" --prompt "def main():"
fi

if want bench; then
  for m in store int8; do
    for g in on off; do
      log "== bench $m, graphs $g"
      run "bench-$m-graphs-$g.txt" "$ACTORLLM" bench --model "$W/$m" --device cuda --dtype bf16 --batch "$BATCHES" \
        --prompt-tokens 128 --new-tokens 128 --graphs $g
    done
  done
fi

if want check; then
  log "== graph-check on the int8 store"
  run graph-check.txt "$ACTORLLM" graph-check --model "$W/int8" --device cuda --dtype bf16 --sessions 16 --context 256 --replays 200
fi

python3 - "$OUT" <<'PY'
import os, re, sys
out = sys.argv[1]
def read(name):
    p = os.path.join(out, name)
    return open(p).read() if os.path.exists(p) else ""
print("\n== summary")
for name in ("stories-f32.txt", "stories-bf16.txt", "quality.txt"):
    text = read(name)
    if not text:
        continue
    pick = [l for l in text.splitlines() if l.startswith(("# quality", "weight files", "weights in memory", "device memory", "logits:", "greedy agreement", "  perplexity"))]
    print("\n".join(pick))
for m, label in (("store", "bf16"), ("int8", "int8")):
    for g in ("on", "off"):
        text = read(f"bench-{m}-graphs-{g}.txt")
        mem = re.search(r"cuda memory allocated after load: ([\d.]+) GiB", text)
        for b, t in re.findall(r"batch\s+(\d+): prefill .*?,\s+([\d.]+) tokens/s aggregate", text):
            print(f"bench {label:4s} graphs {g:3s} batch {int(b):3d}: {float(t):9.1f} tokens/s" + (f"   (allocated after load {mem.group(1)} GiB)" if mem else ""))
gc = read("graph-check.txt")
if gc:
    print("graph-check int8: " + ("OK" if "graph-check: OK" in gc else "FAILED"))
PY
