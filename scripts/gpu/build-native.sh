#!/usr/bin/env bash
# Builds libActorLlmNative.so (src/ActorLlm.Native) against the PyTorch libtorch of this machine, into
# ${1:-build/native}. With CMake when it is installed, else one g++ line (the same flags). Prints the library's path.
# A user with a CUDA libtorch elsewhere: cmake -S src/ActorLlm.Native -B build/native -DTORCH_DIR=<dir with include/, lib/>.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
out="$(mkdir -p "${1:-$root/build/native}" && cd "${1:-$root/build/native}" && pwd)"
TORCH_DIR="$(python3 -c 'import torch,os;print(os.path.dirname(torch.__file__))')"
ABI="$(python3 -c 'import torch;print(int(torch._C._GLIBCXX_USE_CXX11_ABI))')"
CUDA_INC=/usr/local/cuda/include
if [ ! -f "$CUDA_INC/cuda_runtime_api.h" ]; then
  # pip wheels of PyTorch bring the CUDA runtime headers as nvidia-cuda-runtime
  CUDA_INC="$(python3 -c 'import nvidia.cuda_runtime,os;print(os.path.join(list(nvidia.cuda_runtime.__path__)[0],"include"))' 2>/dev/null || true)"
fi
src="$root/src/ActorLlm.Native"
if command -v cmake >/dev/null; then
  cmake -S "$src" -B "$out/cmake" -DTORCH_DIR="$TORCH_DIR" -DTORCH_CXX11_ABI="$ABI" -DCUDA_INCLUDE_DIR="$CUDA_INC" \
    -DCMAKE_BUILD_TYPE=Release -DCMAKE_LIBRARY_OUTPUT_DIRECTORY="$out" >"$out/cmake.log" 2>&1 || { cat "$out/cmake.log"; exit 1; }
  cmake --build "$out/cmake" -j "$(nproc)" >>"$out/cmake.log" 2>&1 || { cat "$out/cmake.log"; exit 1; }
else
  g++ -O2 -shared -fPIC -std=c++17 -fvisibility=hidden -D_GLIBCXX_USE_CXX11_ABI="$ABI" \
    -isystem "$TORCH_DIR/include" -isystem "$TORCH_DIR/include/torch/csrc/api/include" -isystem "$CUDA_INC" \
    "$src/actorllm_native.cpp" -o "$out/libActorLlmNative.so" \
    -L"$TORCH_DIR/lib" -ltorch_cuda -lc10_cuda -lc10 -ltorch_cpu -Wl,-rpath,"$TORCH_DIR/lib"
fi
ls -la "$out/libActorLlmNative.so"
