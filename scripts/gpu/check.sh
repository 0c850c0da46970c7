#!/usr/bin/env bash
# The GPU check (run on the GPU machine from the repository root, after scripts/gpu/pack.sh here):
# conformance of every fixture on CUDA in f32 and bf16, the bundled model's text on CUDA, the CUDA-graph checks
# (libActorLlmNative is built first), and decode speed.
set -uo pipefail
bash scripts/gpu/build-native.sh /tmp/native | tail -2
source scripts/gpu/env.sh
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
echo "== conformance, cuda f32 (tolerance 1e-4)"
"$ACTORLLM" conformance $(dirname tests/fixtures/*/golden.json) --device cuda --dtype f32
echo "== conformance, cuda bf16 (reported; bf16 rounding makes 1e-4 unreachable)"
"$ACTORLLM" conformance $(dirname tests/fixtures/*/golden.json) --device cuda --dtype bf16 --tolerance 0.25
echo "== conformance, cuda bf16 against transformers bf16 on CUDA (like with like)"
python3 scripts/gpu/bf16_golden.py /tmp/bf16-fixtures $(dirname tests/fixtures/*/golden.json) 2>/dev/null
"$ACTORLLM" conformance /tmp/bf16-fixtures/*/ --device cuda --dtype bf16 --tolerance 0.25
echo "== stories260K greedy on cuda f32 and bf16"
"$ACTORLLM" generate --device cuda --dtype f32 -n 40
"$ACTORLLM" generate --device cuda --dtype bf16 -n 40
echo "== CUDA-graph decode: replay == eager fixed-rows pass in every bucket, fused kernels == eager ops, 10,000 replays flat"
"$ACTORLLM" graph-check --device cuda --dtype bf16 --sessions 64 --context 256 --replays 10000
"$ACTORLLM" graph-check --device cuda --dtype f32 --sessions 8 --context 128 --replays 2000
echo "== decode speed, stories260K"
"$ACTORLLM" bench --device cuda --dtype bf16 --batch 1,16,64 --prompt-tokens 128 --new-tokens 128
