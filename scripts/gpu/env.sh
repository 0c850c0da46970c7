#!/usr/bin/env bash
# Sourced on the GPU machine: unpacks .gpu-pack/actorllm.tar.xz to /tmp/app and points the loader at PyTorch's libtorch.

TORCH_LIB="$(python3 -c 'import torch,os;print(os.path.join(os.path.dirname(torch.__file__),"lib"))')"
APP=/tmp/app
if [ ! -x "$APP/actorllm" ]; then
  tar -C /tmp -xJf .gpu-pack/actorllm.tar.xz
fi
export LD_LIBRARY_PATH="$TORCH_LIB:$APP${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export ACTORLLM="$APP/actorllm"
# libActorLlmNative (CUDA graphs), when scripts/gpu/build-native.sh has built it: every stage then decodes by replay.
if [ -f /tmp/native/libActorLlmNative.so ] && [ -z "${ACTORLLM_NATIVE:-}" ]; then
  export ACTORLLM_NATIVE=/tmp/native/libActorLlmNative.so
fi
