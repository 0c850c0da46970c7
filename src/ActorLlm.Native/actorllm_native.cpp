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
