#!/usr/bin/env bash
# How far honest devices drift apart in the figure verification compares (LogprobAgreement.Distance and the greedy gap,
# top 8, B auditing A's greedy token): `actorllm quality` over every position of fixed texts, between devices and
# dtypes. One command on the GPU machine from the repository root, after scripts/gpu/pack.sh here (carry .gpu-pack):
#
#   bash scripts/gpu/verify_spread.sh [SHAPE]     # SHAPE: a random-weight checkpoint made with transformers
#                                                 # (make_bench_model.py; default llama3-1b: f32 on the CPU must run it)
#   CASES="stories big" (default: both).
#
#   stories  the bundled stories260K over 8 texts it samples (f32 CPU, temperature 1, seeds 1-8, 320 tokens each):
#            f32 cpu vs bf16 cuda, f32 cpu vs f32 cuda, bf16 cuda vs bf16 cuda (same device twice), f32 cuda vs bf16
#            cuda, f32 cpu vs bf16 cpu;
#   big      SHAPE (random bf16 weights, byte-level tokenizer: one position per byte) over the first 3 of those
#            texts: f32 cpu vs bf16 cuda, f32 cpu vs f32 cuda, bf16 cuda vs bf16 cuda.
# Works without CUDA too (the cuda cases then fail; the cpu one still runs). Everything goes to $OUT; the verification
# lines are summed up at the end.
set -uo pipefail
SHAPE=${1:-llama3-1b}
OUT=${OUT:-/tmp/spread-out}
CASES=${CASES:-stories big}
mkdir -p "$OUT"
want() { [[ " $CASES " == *" $1 "* ]]; }
log() { echo "$@" | tee -a "$OUT/summary.log"; }
# run FILE ARGS...: the quality command's report to $OUT/FILE (its prompts are not echoed: long), the verification line to the summary.
run() { local f=$1; shift; log "== $f: ... ${*: -6}"; "$@" 2>>"$OUT/stderr.log" | tee "$OUT/$f" >>"$OUT/summary.log"; grep -h '^verification' "$OUT/$f" | tee -a "$OUT/summary.log"; }

log "== $(date -u +%FT%TZ) $(nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null || echo 'no GPU'), $(nproc) cores; cases: $CASES"
if [ -z "${ACTORLLM:-}" ]; then
  source scripts/gpu/env.sh
fi
S=${STORIES:-$APP/models/stories260K}

T=/tmp/spread-texts
mkdir -p "$T"
for i in 1 2 3 4 5 6 7 8; do
  [ -s "$T/$i.txt" ] || "$ACTORLLM" generate --model "$S" --device cpu --dtype f32 -t 1 --seed "$i" -n 320 --ignore-eos -q >"$T/$i.txt" 2>>"$OUT/stderr.log"
done
stories=(); for i in 1 2 3 4 5 6 7 8; do stories+=(--prompt "$(cat "$T/$i.txt")"); done
few=(); for i in 1 2 3; do few+=(--prompt "$(cat "$T/$i.txt")"); done
log "texts: $(cat "$T"/*.txt | wc -c) bytes"

if want stories; then
  q=("$ACTORLLM" quality --model "$S" --compare "$S" --greedy-tokens 100 "${stories[@]}")
  run stories-f32cpu-bf16cuda.txt "${q[@]}" --device cpu --dtype f32 --compare-device cuda --compare-dtype bf16
  run stories-f32cpu-f32cuda.txt "${q[@]}" --device cpu --dtype f32 --compare-device cuda --compare-dtype f32
  run stories-bf16cuda-bf16cuda.txt "${q[@]}" --device cuda --dtype bf16
  run stories-f32cuda-bf16cuda.txt "${q[@]}" --device cuda --dtype f32 --compare-dtype bf16
  run stories-f32cpu-bf16cpu.txt "${q[@]}" --device cpu --dtype f32 --compare-dtype bf16
fi

W=/tmp/spread-$SHAPE
if want big; then
  if [ ! -f "$W/store/manifest.json" ]; then
    rm -rf "$W" && mkdir -p "$W"
    python3 scripts/gpu/make_bench_model.py "$W/hf" --shape "$SHAPE" 2>&1 | tail -1 | tee -a "$OUT/summary.log"
    "$ACTORLLM" convert "$W/hf" "$W/store" 2>>"$OUT/stderr.log" | tail -1 | tee -a "$OUT/summary.log"
    rm -f "$W"/hf/*.safetensors
  fi
  q=("$ACTORLLM" quality --model "$W/store" --compare "$W/store" --greedy-tokens 1 --held-texts 0 "${few[@]}")
  run "$SHAPE-f32cpu-bf16cuda.txt" "${q[@]}" --device cpu --dtype f32 --compare-device cuda --compare-dtype bf16
  run "$SHAPE-f32cpu-f32cuda.txt" "${q[@]}" --device cpu --dtype f32 --compare-device cuda --compare-dtype f32
  run "$SHAPE-bf16cuda-bf16cuda.txt" "${q[@]}" --device cuda --dtype bf16
fi

echo; echo "== summary"
for f in "$OUT"/*.txt; do
  printf '%-32s %s\n' "$(basename "$f" .txt)" "$(grep -h '^verification' "$f" | sed 's/^verification ([^)]*): //')"
done
