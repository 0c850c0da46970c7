#!/usr/bin/env bash
# Packs the actorllm CLI for the GPU machine: a self-contained linux-x64 publish WITHOUT a bundled libtorch
# (that machine brings its own, PyTorch's lib directory), as .gpu-pack/actorllm.tar.xz (git-ignored; name
# .gpu-pack in the device run's carry). See docs/operations.md "GPU" and scripts/gpu/check.sh.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
out="$root/.gpu-pack"
rm -rf "$out" && mkdir -p "$out"
dotnet publish "$root/src/ActorLlm.Cli/ActorLlm.Cli.csproj" -c Release -r linux-x64 --self-contained true \
  -p:ActorLlmNoNativeTorch=true -p:DebugType=none -o "$out/app" -nologo -v quiet
tar -C "$out" -cJf "$out/actorllm.tar.xz" app
rm -rf "$out/app"
ls -la "$out"
