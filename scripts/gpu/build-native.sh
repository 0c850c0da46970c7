#!/usr/bin/env bash
# Builds libActorLlmNative.so (src/ActorLlm.Native) against the PyTorch libtorch of this machine, into
# ${1:-build/native}, and prints the library's path. The fused kernels (kernels.cu) are compiled with nvcc when it is
# installed; without it (or if it fails) the library has streams, events, graphs and rms_norm only, and says so
# (actorllm_has_kernels() = 0). USE_CMAKE=1 builds through src/ActorLlm.Native/CMakeLists.txt instead (the route for a
# user with a CUDA libtorch elsewhere: cmake -S src/ActorLlm.Native -B build/native -DTORCH_DIR=<dir with include/, lib/>).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
out="$(mkdir -p "${1:-$root/build/native}" && cd "${1:-$root/build/native}" && pwd)"
TORCH_DIR="$(python3 -c 'import torch,os;print(os.path.dirname(torch.__file__))')"
ABI="$(python3 -c 'import torch;print(int(torch._C._GLIBCXX_USE_CXX11_ABI))')"
CUDA_HOME="${CUDA_HOME:-/usr/local/cuda}"
NVCC="$(command -v nvcc || echo "$CUDA_HOME/bin/nvcc")"
CUDA_INC="$CUDA_HOME/include"
src="$root/src/ActorLlm.Native"
if [ "${USE_CMAKE:-0}" = 1 ]; then
  cmake -S "$src" -B "$out/cmake" -DTORCH_DIR="$TORCH_DIR" -DTORCH_CXX11_ABI="$ABI" -DCUDA_INCLUDE_DIR="$CUDA_INC" \
    -DCMAKE_CUDA_COMPILER="$NVCC" -DCMAKE_BUILD_TYPE=Release -DCMAKE_LIBRARY_OUTPUT_DIRECTORY="$out" >"$out/cmake.log" 2>&1 \
    && cmake --build "$out/cmake" -j "$(nproc)" >>"$out/cmake.log" 2>&1 || { cat "$out/cmake.log"; exit 1; }
  ls -la "$out/libActorLlmNative.so"
  exit 0
fi
kernels=()
defines=()
if [ -x "$NVCC" ]; then
  if "$NVCC" -O3 -std=c++17 -Xcompiler -fPIC -c "$src/kernels.cu" -o "$out/kernels.o" \
       -gencode arch=compute_80,code=sm_80 -gencode arch=compute_90,code=sm_90 -gencode arch=compute_90,code=compute_90 \
       >"$out/nvcc.log" 2>&1; then
    kernels=("$out/kernels.o"); defines=(-DACTORLLM_KERNELS)
    echo "fused kernels: built with $("$NVCC" --version | tail -1)"
  else
    echo "fused kernels: nvcc failed (see $out/nvcc.log), building without them"; tail -20 "$out/nvcc.log"
  fi
else
  echo "fused kernels: no nvcc, building without them"
fi
g++ -O2 -shared -fPIC -std=c++17 -fvisibility=hidden -D_GLIBCXX_USE_CXX11_ABI="$ABI" "${defines[@]}" \
  -isystem "$TORCH_DIR/include" -isystem "$TORCH_DIR/include/torch/csrc/api/include" -isystem "$CUDA_INC" \
  "$src/actorllm_native.cpp" "${kernels[@]}" -o "$out/libActorLlmNative.so" \
  -L"$TORCH_DIR/lib" -ltorch_cuda -lc10_cuda -lc10 -ltorch_cpu -Wl,-rpath,"$TORCH_DIR/lib"
ls -la "$out/libActorLlmNative.so"
