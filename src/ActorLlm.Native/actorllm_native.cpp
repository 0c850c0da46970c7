// libActorLlmNative: what TorchSharp 0.107 does not bind, over the libtorch of the process.
//
// CUDA streams, events and graph capture/replay (at::cuda::CUDAGraph with a memory pool shared by the graphs of one
// owner), and libtorch's fused RMSNorm. Tensors cross the boundary as TorchSharp passes them: an `at::Tensor*` handle
// (TorchSharp's THS functions own tensors that way: `new at::Tensor(...)`, freed by THSTensor_dispose), so a tensor
// returned here is wrapped on the C# side with Tensor.UnsafeCreateTensor and disposed like any other.
//
// Every export returns 0 on success or -1 on failure; the failure's text is kept per thread and read with
// actorllm_last_error. No exception crosses the C boundary.
#include <ATen/ATen.h>
#include <ATen/cuda/CUDAGraph.h>
#include <ATen/cuda/CUDAEvent.h>
#include <c10/cuda/CUDAStream.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDACachingAllocator.h>
#include <cuda_runtime_api.h>
#include <string>

#define EXPORT extern "C" __attribute__((visibility("default")))

namespace {
thread_local std::string last_error;

template <typename F>
int guarded(F&& f) {
  try {
    f();
    return 0;
  } catch (const std::exception& e) {
    last_error = e.what();
  } catch (...) {
    last_error = "unknown C++ exception";
  }
  return -1;
}

// A graph and the pool its captures allocate from (shared by the graphs created with the same pool owner).
struct Graph {
  at::cuda::CUDAGraph graph;
  at::cuda::MempoolId_t pool;
};
}  // namespace

EXPORT int actorllm_native_version() { return 1; }

EXPORT const char* actorllm_last_error() { return last_error.c_str(); }

// ---- streams -------------------------------------------------------------------------------------------------

// A stream from libtorch's pool for `device` (not the default stream: graph capture needs a side stream).
EXPORT int actorllm_stream_from_pool(int device, int high_priority, void** out) {
  return guarded([&] {
    auto s = c10::cuda::getStreamFromPool(high_priority != 0, static_cast<c10::DeviceIndex>(device));
    *out = new c10::cuda::CUDAStream(s);
  });
}

EXPORT int actorllm_stream_destroy(void* stream) {
  return guarded([&] { delete static_cast<c10::cuda::CUDAStream*>(stream); });
}

// Makes `stream` the calling thread's current stream for its device: every libtorch op of this thread on that
// device is queued on it from now on.
EXPORT int actorllm_stream_set_current(void* stream) {
  return guarded([&] { c10::cuda::setCurrentCUDAStream(*static_cast<c10::cuda::CUDAStream*>(stream)); });
}

// Back to the default stream of `device` for the calling thread.
EXPORT int actorllm_stream_set_default(int device) {
  return guarded([&] { c10::cuda::setCurrentCUDAStream(c10::cuda::getDefaultCUDAStream(static_cast<c10::DeviceIndex>(device))); });
}

EXPORT int actorllm_stream_synchronize(void* stream) {
  return guarded([&] { static_cast<c10::cuda::CUDAStream*>(stream)->synchronize(); });
}

// ---- events --------------------------------------------------------------------------------------------------

EXPORT int actorllm_event_create(int enable_timing, void** out) {
  return guarded([&] { *out = new at::cuda::CUDAEvent(enable_timing ? cudaEventDefault : cudaEventDisableTiming); });
}

EXPORT int actorllm_event_destroy(void* event) {
  return guarded([&] { delete static_cast<at::cuda::CUDAEvent*>(event); });
}

// Records on `stream`, or on the calling thread's current stream of `device` when `stream` is null.
EXPORT int actorllm_event_record(void* event, void* stream, int device) {
  return guarded([&] {
    auto* e = static_cast<at::cuda::CUDAEvent*>(event);
    if (stream != nullptr) {
      e->record(*static_cast<c10::cuda::CUDAStream*>(stream));
    } else {
      e->record(c10::cuda::getCurrentCUDAStream(static_cast<c10::DeviceIndex>(device)));
    }
  });
}

// Makes `stream` (or the calling thread's current stream of `device` when `stream` is null) wait on the GPU for the
// work `event` recorded, without blocking the host: how a streamed stage orders a layer's copy before its use and its
// use before the slot's next copy.
EXPORT int actorllm_event_block(void* event, void* stream, int device) {
  return guarded([&] {
    auto* e = static_cast<at::cuda::CUDAEvent*>(event);
    if (stream != nullptr) {
      e->block(*static_cast<c10::cuda::CUDAStream*>(stream));
    } else {
      e->block(c10::cuda::getCurrentCUDAStream(static_cast<c10::DeviceIndex>(device)));
    }
  });
}

EXPORT int actorllm_event_synchronize(void* event) {
  return guarded([&] { static_cast<at::cuda::CUDAEvent*>(event)->synchronize(); });
}

EXPORT int actorllm_event_elapsed_ms(void* start, void* end, float* ms) {
  return guarded([&] { *ms = static_cast<at::cuda::CUDAEvent*>(start)->elapsed_time(*static_cast<at::cuda::CUDAEvent*>(end)); });
}

// ---- graphs --------------------------------------------------------------------------------------------------

// A new graph. `share_pool_with` null: the graph gets a pool of its own; otherwise it allocates from the pool of
// that graph (the graphs of one executor share one pool; they are never replayed concurrently).
EXPORT int actorllm_graph_create(void* share_pool_with, void** out) {
  return guarded([&] {
    auto* g = new Graph();
    g->pool = share_pool_with != nullptr ? static_cast<Graph*>(share_pool_with)->pool : at::cuda::graph_pool_handle();
    *out = g;
  });
}

EXPORT int actorllm_graph_destroy(void* graph) {
  return guarded([&] { delete static_cast<Graph*>(graph); });
}

// Starts capturing the calling thread's work on its current stream (which must not be the default stream).
// Thread-local mode: other threads' CUDA calls are not affected (an actor system has many threads).
EXPORT int actorllm_graph_capture_begin(void* graph) {
  return guarded([&] {
    auto* g = static_cast<Graph*>(graph);
    g->graph.capture_begin(g->pool, cudaStreamCaptureModeThreadLocal);
  });
}

EXPORT int actorllm_graph_capture_end(void* graph) {
  return guarded([&] { static_cast<Graph*>(graph)->graph.capture_end(); });
}

// Launches the captured work on the calling thread's current stream.
EXPORT int actorllm_graph_replay(void* graph) {
  return guarded([&] { static_cast<Graph*>(graph)->graph.replay(); });
}

// ---- fused kernels (kernels.cu, when the library was built with nvcc) ------------------------------------------

#ifdef ACTORLLM_KERNELS
int actorllm_k_silu_mul(int dtype, const void* x, void* out, int64_t rows, int64_t inter, cudaStream_t stream);
int actorllm_k_add_rms_norm(int dtype, const void* x, const void* residual, const void* w, void* h, void* y,
                            int64_t rows, int64_t hidden, float eps, cudaStream_t stream);
int actorllm_k_rope_kv(int dtype, const void* qkv, const void* cos, const void* sin, const int64_t* positions,
                       int64_t pos_stride_n, const int64_t* slots, void* q_out, void* k_cache, void* v_cache,
                       int64_t rows, int64_t tokens, int heads, int kv_heads, int dim, int64_t columns, cudaStream_t stream);

namespace {
int dtype_code(const at::Tensor& t) {
  switch (t.scalar_type()) {
    case at::kFloat: return 0;
    case at::kHalf: return 1;
    case at::kBFloat16: return 2;
    default: throw std::runtime_error("fused kernels take float32, float16 or bfloat16 tensors");
  }
}

const at::Tensor& cuda_contiguous(void* handle, const char* what) {
  const auto& t = *static_cast<at::Tensor*>(handle);
  TORCH_CHECK(t.is_cuda() && t.is_contiguous(), what, " must be a contiguous CUDA tensor");
  return t;
}

void launched(int rc) {
  if (rc != 0) throw std::runtime_error(std::string("kernel launch failed: ") + cudaGetErrorString(static_cast<cudaError_t>(rc)));
}
}  // namespace

EXPORT int actorllm_has_kernels() { return 1; }

// [.., 2I] (gate | up) -> [.., I] = silu(gate) * up.
EXPORT int actorllm_silu_mul(void* x, void** out) {
  return guarded([&] {
    const auto& t = cuda_contiguous(x, "x");
    int64_t inter = t.size(-1) / 2;
    auto sizes = t.sizes().vec();
    sizes.back() = inter;
    auto o = at::empty(sizes, t.options());
    launched(actorllm_k_silu_mul(dtype_code(t), t.data_ptr(), o.data_ptr(), t.numel() / t.size(-1), inter,
                                 c10::cuda::getCurrentCUDAStream()));
    *out = new at::Tensor(o);
  });
}

// h = residual + x, y = rms_norm(h) * w (statistics in float32, transformers' rounding).
EXPORT int actorllm_add_rms_norm(void* x, void* residual, void* weight, double eps, void** h_out, void** y_out) {
  return guarded([&] {
    const auto& a = cuda_contiguous(x, "x");
    const auto& r = cuda_contiguous(residual, "residual");
    const auto& w = cuda_contiguous(weight, "weight");
    TORCH_CHECK(a.sizes() == r.sizes() && a.scalar_type() == r.scalar_type() && w.scalar_type() == a.scalar_type(), "shapes or dtypes differ");
    auto h = at::empty_like(a);
    auto y = at::empty_like(a);
    int64_t hidden = a.size(-1);
    launched(actorllm_k_add_rms_norm(dtype_code(a), a.data_ptr(), r.data_ptr(), w.data_ptr(), h.data_ptr(), y.data_ptr(),
                                     a.numel() / hidden, hidden, static_cast<float>(eps), c10::cuda::getCurrentCUDAStream()));
    *h_out = new at::Tensor(h);
    *y_out = new at::Tensor(y);
  });
}

// qkv [N, T, (H + 2 KV) D]; cos, sin [P, D]; positions [N, T] int64 (rows contiguous); slots [N] int64;
// caches [slots, KV, C, D]. Writes k, v into the caches; returns rotated q [N, T, H, D].
EXPORT int actorllm_rope_kv(void* qkv, void* cos, void* sin, void* positions, void* slots, void* k_cache, void* v_cache,
                            int heads, int kv_heads, void** q_out) {
  return guarded([&] {
    const auto& x = cuda_contiguous(qkv, "qkv");
    const auto& c = cuda_contiguous(cos, "cos");
    const auto& s = cuda_contiguous(sin, "sin");
    const auto& k = cuda_contiguous(k_cache, "k_cache");
    const auto& v = cuda_contiguous(v_cache, "v_cache");
    const auto& p = *static_cast<at::Tensor*>(positions);
    const auto& sl = cuda_contiguous(slots, "slots");
    TORCH_CHECK(p.is_cuda() && p.scalar_type() == at::kLong && sl.scalar_type() == at::kLong && p.dim() == 2 && (p.size(1) == 1 || p.stride(1) == 1),
                "positions [N, T] and slots [N] must be int64 CUDA tensors");
    int64_t n = x.size(0), t = x.size(1), dim = k.size(3);
    TORCH_CHECK(x.dim() == 3 && x.size(2) == (heads + 2 * kv_heads) * dim && p.size(0) == n && p.size(1) == t && sl.size(0) == n, "shapes disagree");
    TORCH_CHECK(c.scalar_type() == x.scalar_type() && k.scalar_type() == x.scalar_type(), "dtypes differ");
    auto q = at::empty({n, t, heads, dim}, x.options());
    launched(actorllm_k_rope_kv(dtype_code(x), x.data_ptr(), c.data_ptr(), s.data_ptr(), p.data_ptr<int64_t>(), p.stride(0),
                                sl.data_ptr<int64_t>(), q.data_ptr(), k.data_ptr(), v.data_ptr(), n, t, heads, kv_heads,
                                static_cast<int>(dim), k.size(2), c10::cuda::getCurrentCUDAStream()));
    *q_out = new at::Tensor(q);
  });
}
#else
EXPORT int actorllm_has_kernels() { return 0; }
#endif

// ---- ops and memory ------------------------------------------------------------------------------------------

// y = rms_norm(x, [hidden], w, eps): libtorch's RMSNorm (one fused kernel on CUDA), statistics in float32.
EXPORT int actorllm_rms_norm(void* x, void* weight, double eps, void** out) {
  return guarded([&] {
    auto* t = static_cast<at::Tensor*>(x);
    auto* w = static_cast<at::Tensor*>(weight);
    *out = new at::Tensor(at::rms_norm(*t, {t->size(-1)}, *w, eps));
  });
}

// Bytes the caching allocator has handed out on `device` (graph pools included): a leak check's measure.
EXPORT int actorllm_cuda_memory_allocated(int device, long long* bytes) {
  return guarded([&] {
    auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(static_cast<c10::DeviceIndex>(device));
    *bytes = stats.allocated_bytes[0].current;  // index 0: StatType::AGGREGATE
  });
}
