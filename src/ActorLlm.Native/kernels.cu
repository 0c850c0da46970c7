// Fused kernels of libActorLlmNative (built when nvcc is present; see actorllm_native.cpp). Each replaces several
// libtorch kernels of a decoder layer and rounds where those kernels round, so a stage's numbers stay those of the
// eager ops to within the summation order of the norm's mean. Raw pointers and a stream only: no torch headers here.
#include <cuda_runtime.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cstdint>

namespace {
__device__ __forceinline__ float to_f(float x) { return x; }
__device__ __forceinline__ float to_f(__nv_bfloat16 x) { return __bfloat162float(x); }
__device__ __forceinline__ float to_f(__half x) { return __half2float(x); }
template <typename T> __device__ __forceinline__ T from_f(float x);
template <> __device__ __forceinline__ float from_f<float>(float x) { return x; }
template <> __device__ __forceinline__ __nv_bfloat16 from_f<__nv_bfloat16>(float x) { return __float2bfloat16_rn(x); }
template <> __device__ __forceinline__ __half from_f<__half>(float x) { return __float2half_rn(x); }

// out[r, i] = silu(x[r, i]) * x[r, I + i] for x = [gate | up] of [rows, 2I]: silu rounded to T, then the product (as
// F.silu(gate) * up does).
template <typename T>
__global__ void silu_mul(const T* __restrict__ x, T* __restrict__ out, int64_t rows, int64_t inter) {
  int64_t n = rows * inter;
  for (int64_t idx = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; idx < n; idx += (int64_t)gridDim.x * blockDim.x) {
    int64_t r = idx / inter, i = idx - r * inter;
    float g = to_f(x[r * 2 * inter + i]);
    float u = to_f(x[r * 2 * inter + inter + i]);
    float s = to_f(from_f<T>(g / (1.0f + expf(-g))));
    out[idx] = from_f<T>(s * u);
  }
}

// h = residual + x (rounded to T); y = w * T(h * rsqrt(mean(h^2) + eps)), the statistics in float32: the residual add
// and transformers' LlamaRMSNorm in one pass over each row (one block per row).
template <typename T>
__global__ void add_rms_norm(const T* __restrict__ x, const T* __restrict__ residual, const T* __restrict__ w,
                             T* __restrict__ h_out, T* __restrict__ y_out, int64_t hidden, float eps) {
  int64_t row = blockIdx.x;
  const T* xr = x + row * hidden;
  const T* rr = residual + row * hidden;
  T* hr = h_out + row * hidden;
  float sum = 0.f;
  for (int64_t i = threadIdx.x; i < hidden; i += blockDim.x) {
    T h = from_f<T>(to_f(rr[i]) + to_f(xr[i]));
    hr[i] = h;
    float hf = to_f(h);
    sum += hf * hf;
  }
  __shared__ float partial[32];
  for (int offset = 16; offset > 0; offset >>= 1) sum += __shfl_down_sync(0xffffffff, sum, offset);
  int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  if (lane == 0) partial[warp] = sum;
  __syncthreads();
  if (warp == 0) {
    sum = lane < (int)((blockDim.x + 31) / 32) ? partial[lane] : 0.f;
    for (int offset = 16; offset > 0; offset >>= 1) sum += __shfl_down_sync(0xffffffff, sum, offset);
    if (lane == 0) partial[0] = rsqrtf(sum / (float)hidden + eps);
  }
  __syncthreads();
  float rstd = partial[0];
  for (int64_t i = threadIdx.x; i < hidden; i += blockDim.x) {
    float normed = to_f(from_f<T>(to_f(hr[i]) * rstd));
    y_out[row * hidden + i] = from_f<T>(to_f(w[i]) * normed);
  }
}

// Rotary positions and the KV cache write of one attention layer, for qkv = [q | k | v] of [N, T, (H + 2 KV) D]:
// q and k rotated as x * cos + roll(x, D/2) * sin' (sin' the half-negated sin table, each product and the sum rounded
// to T as the three eager ops round), q written to q_out [N, T, H, D], k and v to the caches [slots, KV, C, D] at
// (slot[n], :, position[n, t], :).
template <typename T>
__global__ void rope_kv(const T* __restrict__ qkv, const T* __restrict__ cos, const T* __restrict__ sin,
                        const int64_t* __restrict__ positions, int64_t pos_stride_n,
                        const int64_t* __restrict__ slots, T* __restrict__ q_out,
                        T* __restrict__ k_cache, T* __restrict__ v_cache,
                        int64_t n_rows, int64_t tokens, int heads, int kv_heads, int dim, int64_t columns) {
  int64_t all = heads + 2 * (int64_t)kv_heads;
  int64_t n = n_rows * tokens * all * dim;
  int half = dim / 2;
  for (int64_t idx = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; idx < n; idx += (int64_t)gridDim.x * blockDim.x) {
    int d = (int)(idx % dim);
    int64_t rest = idx / dim;
    int hh = (int)(rest % all);
    rest /= all;
    int64_t t = rest % tokens;
    int64_t r = rest / tokens;
    int64_t pos = positions[r * pos_stride_n + t];
    const T* src = qkv + ((r * tokens + t) * all + hh) * dim;
    T value;
    if (hh < heads + kv_heads) {
      int partner = d < half ? d + half : d - half;
      float a = to_f(from_f<T>(to_f(src[d]) * to_f(cos[pos * dim + d])));
      float b = to_f(from_f<T>(to_f(src[partner]) * to_f(sin[pos * dim + d])));
      value = from_f<T>(a + b);
    } else {
      value = src[d];
    }
    if (hh < heads) {
      q_out[((r * tokens + t) * heads + hh) * dim + d] = value;
    } else {
      bool is_k = hh < heads + kv_heads;
      int kvh = (int)(is_k ? hh - heads : hh - heads - kv_heads);
      int64_t at = ((slots[r] * kv_heads + kvh) * columns + pos) * dim + d;
      (is_k ? k_cache : v_cache)[at] = value;
    }
  }
}

int blocks_for(int64_t n, int threads) {
  int64_t b = (n + threads - 1) / threads;
  return (int)(b < 65535 * 8 ? b : 65535 * 8);
}
}  // namespace

// dtype: 0 float32, 1 float16, 2 bfloat16. Returns cudaGetLastError() as an int (0 = launched).
#define DISPATCH(dtype, ...)                                             \
  switch (dtype) {                                                       \
    case 0: { using T = float; __VA_ARGS__; break; }                     \
    case 1: { using T = __half; __VA_ARGS__; break; }                    \
    case 2: { using T = __nv_bfloat16; __VA_ARGS__; break; }             \
    default: return (int)cudaErrorInvalidValue;                          \
  }

int actorllm_k_silu_mul(int dtype, const void* x, void* out, int64_t rows, int64_t inter, cudaStream_t stream) {
  int threads = 256;
  DISPATCH(dtype, silu_mul<T><<<blocks_for(rows * inter, threads), threads, 0, stream>>>((const T*)x, (T*)out, rows, inter));
  return (int)cudaGetLastError();
}

int actorllm_k_add_rms_norm(int dtype, const void* x, const void* residual, const void* w, void* h, void* y,
                            int64_t rows, int64_t hidden, float eps, cudaStream_t stream) {
  int threads = hidden >= 1024 ? 1024 : ((int)((hidden + 31) / 32) * 32);
  DISPATCH(dtype, add_rms_norm<T><<<(unsigned)rows, threads, 0, stream>>>((const T*)x, (const T*)residual, (const T*)w, (T*)h, (T*)y, hidden, eps));
  return (int)cudaGetLastError();
}

int actorllm_k_rope_kv(int dtype, const void* qkv, const void* cos, const void* sin, const int64_t* positions,
                       int64_t pos_stride_n, const int64_t* slots, void* q_out, void* k_cache, void* v_cache,
                       int64_t rows, int64_t tokens, int heads, int kv_heads, int dim, int64_t columns, cudaStream_t stream) {
  int threads = 256;
  int64_t n = rows * tokens * (heads + 2 * (int64_t)kv_heads) * dim;
  DISPATCH(dtype, rope_kv<T><<<blocks_for(n, threads), threads, 0, stream>>>(
      (const T*)qkv, (const T*)cos, (const T*)sin, positions, pos_stride_n, slots, (T*)q_out, (T*)k_cache, (T*)v_cache,
      rows, tokens, heads, kv_heads, dim, columns));
  return (int)cudaGetLastError();
}
