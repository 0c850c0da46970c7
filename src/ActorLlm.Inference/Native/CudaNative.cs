using System.Runtime.InteropServices;
using static TorchSharp.torch;

namespace ActorLlm.Inference.Native;

/// <summary>
/// The exports of libActorLlmNative: CUDA streams, events and graphs, and libtorch's fused RMSNorm, which TorchSharp
/// 0.107 does not bind. <see cref="IsAvailable"/> is false where the library is absent; nothing here may be called then.
/// Every call checks the library's return code and turns a failure into a <see cref="CudaNativeException"/>.
/// </summary>
public static unsafe class CudaNative
{
    private static readonly Lazy<Exports?> s_exports = new(Bind);
    private static string s_description = "not loaded yet";

    /// <summary>True when the library is loaded and bound (it needs a CUDA libtorch in the process).</summary>
    public static bool IsAvailable => s_exports.Value is not null;

    /// <summary>Where the library was loaded from, or why not.</summary>
    public static string Description
    {
        get
        {
            _ = s_exports.Value;
            return s_description;
        }
    }

    /// <summary>
    /// The library was built with its fused kernels (nvcc present at build time) and they are in use: the decoder
    /// layers on CUDA then run rotary + KV write, residual add + RMSNorm and SiLU x up as one kernel each. On by default;
    /// <c>ACTORLLM_FUSED_KERNELS=off</c> turns them off (to compare), as does setting this false.
    /// </summary>
    public static bool UseKernels
    {
        get => s_useKernels ??= IsAvailable && E.HasKernels() == 1 && Environment.GetEnvironmentVariable("ACTORLLM_FUSED_KERNELS") != "off";
        set => s_useKernels = value && IsAvailable && E.HasKernels() == 1;
    }

    private static bool? s_useKernels;

    /// <summary>True when <paramref name="t"/> is on CUDA and the fused kernels are in use.</summary>
    public static bool KernelsFor(Tensor t) => t.device.type == TorchSharp.DeviceType.CUDA && UseKernels;

    private static Exports E => s_exports.Value ?? throw new InvalidOperationException($"the native library is not available: {Description}");

    public static IntPtr StreamFromPool(int device, bool highPriority = false)
    {
        IntPtr s;
        Check(E.StreamFromPool(device, highPriority ? 1 : 0, &s), "stream_from_pool");
        return s;
    }

    public static void StreamDestroy(IntPtr stream) => Check(E.StreamDestroy(stream), "stream_destroy");

    public static void StreamSetCurrent(IntPtr stream) => Check(E.StreamSetCurrent(stream), "stream_set_current");

    public static void StreamSetDefault(int device) => Check(E.StreamSetDefault(device), "stream_set_default");

    public static void StreamSynchronize(IntPtr stream) => Check(E.StreamSynchronize(stream), "stream_synchronize");

    public static IntPtr EventCreate(bool timing)
    {
        IntPtr e;
        Check(E.EventCreate(timing ? 1 : 0, &e), "event_create");
        return e;
    }

    public static void EventDestroy(IntPtr ev) => Check(E.EventDestroy(ev), "event_destroy");

    /// <summary>Records on <paramref name="stream"/>, or on the thread's current stream of <paramref name="device"/> when it is zero.</summary>
    public static void EventRecord(IntPtr ev, IntPtr stream, int device) => Check(E.EventRecord(ev, stream, device), "event_record");

    /// <summary>
    /// Whether the library has <c>event_block</c> (a stream waits on the GPU for an event); libraries built before it
    /// lack it, and <see cref="EventBlock"/> then waits on the host instead.
    /// </summary>
    public static bool HasEventBlock => IsAvailable && E.EventBlock != null;

    /// <summary>
    /// <paramref name="stream"/> (or the thread's current stream of <paramref name="device"/> when it is zero) waits for
    /// <paramref name="ev"/> without blocking the host; without the export, the host waits for the event.
    /// </summary>
    public static void EventBlock(IntPtr ev, IntPtr stream, int device)
    {
        if (E.EventBlock != null)
        {
            Check(E.EventBlock(ev, stream, device), "event_block");
        }
        else
        {
            EventSynchronize(ev);
        }
    }

    public static void EventSynchronize(IntPtr ev) => Check(E.EventSynchronize(ev), "event_synchronize");

    public static float EventElapsedMilliseconds(IntPtr start, IntPtr end)
    {
        float ms;
        Check(E.EventElapsed(start, end, &ms), "event_elapsed_ms");
        return ms;
    }

    /// <summary>A new graph, allocating from the pool of <paramref name="sharePoolWith"/> or from a pool of its own.</summary>
    public static IntPtr GraphCreate(IntPtr sharePoolWith)
    {
        IntPtr g;
        Check(E.GraphCreate(sharePoolWith, &g), "graph_create");
        return g;
    }

    public static void GraphDestroy(IntPtr graph) => Check(E.GraphDestroy(graph), "graph_destroy");

    public static void GraphCaptureBegin(IntPtr graph) => Check(E.GraphCaptureBegin(graph), "graph_capture_begin");

    public static void GraphCaptureEnd(IntPtr graph) => Check(E.GraphCaptureEnd(graph), "graph_capture_end");

    public static void GraphReplay(IntPtr graph) => Check(E.GraphReplay(graph), "graph_replay");

    /// <summary>libtorch's rms_norm over the last dimension (one fused kernel on CUDA); the caller owns the result.</summary>
    public static Tensor RmsNorm(Tensor x, Tensor weight, double eps)
    {
        IntPtr result;
        Check(E.RmsNorm(x.Handle, weight.Handle, eps, &result), "rms_norm");
        return Tensor.UnsafeCreateTensor(result);
    }

    /// <summary>[.., 2I] (gate | up) to [.., I] = silu(gate) * up, one kernel. <paramref name="gateUp"/> must be contiguous.</summary>
    public static Tensor SiluMul(Tensor gateUp)
    {
        IntPtr result;
        Check(E.SiluMul(gateUp.Handle, &result), "silu_mul");
        return Tensor.UnsafeCreateTensor(result);
    }

    /// <summary>h = residual + x and y = rms_norm(h) * weight (transformers' rounding), one kernel; contiguous inputs.</summary>
    public static (Tensor H, Tensor Y) AddRmsNorm(Tensor x, Tensor residual, Tensor weight, double eps)
    {
        IntPtr h, y;
        Check(E.AddRmsNorm(x.Handle, residual.Handle, weight.Handle, eps, &h, &y), "add_rms_norm");
        return (Tensor.UnsafeCreateTensor(h), Tensor.UnsafeCreateTensor(y));
    }

    /// <summary>
    /// Rotates q and k of <paramref name="qkv"/> [N, T, (H + 2 KV) D] at <paramref name="positions"/> [N, T] with the
    /// tables [P, D] (sin half-negated), writes k and v into the caches [slots, KV, C, D] at (slots[n], :, position) and
    /// returns q [N, T, H, D]: one kernel for what takes six eager ones.
    /// </summary>
    public static Tensor RopeKv(Tensor qkv, Tensor cos, Tensor sin, Tensor positions, Tensor slots, Tensor keys, Tensor values, int heads, int kvHeads)
    {
        IntPtr q;
        Check(E.RopeKv(qkv.Handle, cos.Handle, sin.Handle, positions.Handle, slots.Handle, keys.Handle, values.Handle, heads, kvHeads, &q), "rope_kv");
        return Tensor.UnsafeCreateTensor(q);
    }

    /// <summary>Bytes libtorch's caching allocator has handed out on <paramref name="device"/>, graph pools included.</summary>
    public static long MemoryAllocated(int device)
    {
        long bytes;
        Check(E.MemoryAllocated(device, &bytes), "cuda_memory_allocated");
        return bytes;
    }

    private static void Check(int rc, string what)
    {
        if (rc != 0)
        {
            throw new CudaNativeException($"actorllm_{what} failed: {Marshal.PtrToStringUTF8(E.LastError())}");
        }
    }

    private static Exports? Bind()
    {
        var (handle, description) = NativeLibraryLoader.Load();
        if (handle == IntPtr.Zero)
        {
            s_description = description;
            return null;
        }

        try
        {
            IntPtr F(string name) => NativeLibrary.GetExport(handle, "actorllm_" + name);
            var version = (delegate* unmanaged<int>)F("native_version");
            var exports = new Exports
            {
                LastError = (delegate* unmanaged<IntPtr>)F("last_error"),
                StreamFromPool = (delegate* unmanaged<int, int, IntPtr*, int>)F("stream_from_pool"),
                StreamDestroy = (delegate* unmanaged<IntPtr, int>)F("stream_destroy"),
                StreamSetCurrent = (delegate* unmanaged<IntPtr, int>)F("stream_set_current"),
                StreamSetDefault = (delegate* unmanaged<int, int>)F("stream_set_default"),
                StreamSynchronize = (delegate* unmanaged<IntPtr, int>)F("stream_synchronize"),
                EventCreate = (delegate* unmanaged<int, IntPtr*, int>)F("event_create"),
                EventDestroy = (delegate* unmanaged<IntPtr, int>)F("event_destroy"),
                EventRecord = (delegate* unmanaged<IntPtr, IntPtr, int, int>)F("event_record"),
                EventSynchronize = (delegate* unmanaged<IntPtr, int>)F("event_synchronize"),
                EventElapsed = (delegate* unmanaged<IntPtr, IntPtr, float*, int>)F("event_elapsed_ms"),
                GraphCreate = (delegate* unmanaged<IntPtr, IntPtr*, int>)F("graph_create"),
                GraphDestroy = (delegate* unmanaged<IntPtr, int>)F("graph_destroy"),
                GraphCaptureBegin = (delegate* unmanaged<IntPtr, int>)F("graph_capture_begin"),
                GraphCaptureEnd = (delegate* unmanaged<IntPtr, int>)F("graph_capture_end"),
                GraphReplay = (delegate* unmanaged<IntPtr, int>)F("graph_replay"),
                RmsNorm = (delegate* unmanaged<IntPtr, IntPtr, double, IntPtr*, int>)F("rms_norm"),
                MemoryAllocated = (delegate* unmanaged<int, long*, int>)F("cuda_memory_allocated"),
                HasKernels = (delegate* unmanaged<int>)F("has_kernels"),
            };
            if (NativeLibrary.TryGetExport(handle, "actorllm_event_block", out IntPtr block))
            {
                exports.EventBlock = (delegate* unmanaged<IntPtr, IntPtr, int, int>)block;
            }

            if (exports.HasKernels() == 1)
            {
                exports.SiluMul = (delegate* unmanaged<IntPtr, IntPtr*, int>)F("silu_mul");
                exports.AddRmsNorm = (delegate* unmanaged<IntPtr, IntPtr, IntPtr, double, IntPtr*, IntPtr*, int>)F("add_rms_norm");
                exports.RopeKv = (delegate* unmanaged<IntPtr, IntPtr, IntPtr, IntPtr, IntPtr, IntPtr, IntPtr, int, int, IntPtr*, int>)F("rope_kv");
            }

            s_description = $"{description} (version {version()}, {(exports.HasKernels() == 1 ? "with" : "without")} fused kernels)";
            return exports;
        }
        catch (EntryPointNotFoundException e)
        {
            s_description = $"{description} is not a usable {NativeLibraryLoader.FileName}: {e.Message}";
            return null;
        }
    }

    private sealed class Exports
    {
        public delegate* unmanaged<IntPtr> LastError;
        public delegate* unmanaged<int, int, IntPtr*, int> StreamFromPool;
        public delegate* unmanaged<IntPtr, int> StreamDestroy;
        public delegate* unmanaged<IntPtr, int> StreamSetCurrent;
        public delegate* unmanaged<int, int> StreamSetDefault;
        public delegate* unmanaged<IntPtr, int> StreamSynchronize;
        public delegate* unmanaged<int, IntPtr*, int> EventCreate;
        public delegate* unmanaged<IntPtr, int> EventDestroy;
        public delegate* unmanaged<IntPtr, IntPtr, int, int> EventRecord;
        public delegate* unmanaged<IntPtr, int> EventSynchronize;
        public delegate* unmanaged<IntPtr, IntPtr, int, int> EventBlock;
        public delegate* unmanaged<IntPtr, IntPtr, float*, int> EventElapsed;
        public delegate* unmanaged<IntPtr, IntPtr*, int> GraphCreate;
        public delegate* unmanaged<IntPtr, int> GraphDestroy;
        public delegate* unmanaged<IntPtr, int> GraphCaptureBegin;
        public delegate* unmanaged<IntPtr, int> GraphCaptureEnd;
        public delegate* unmanaged<IntPtr, int> GraphReplay;
        public delegate* unmanaged<IntPtr, IntPtr, double, IntPtr*, int> RmsNorm;
        public delegate* unmanaged<int, long*, int> MemoryAllocated;
        public delegate* unmanaged<int> HasKernels;
        public delegate* unmanaged<IntPtr, IntPtr*, int> SiluMul;
        public delegate* unmanaged<IntPtr, IntPtr, IntPtr, double, IntPtr*, IntPtr*, int> AddRmsNorm;
        public delegate* unmanaged<IntPtr, IntPtr, IntPtr, IntPtr, IntPtr, IntPtr, IntPtr, int, int, IntPtr*, int> RopeKv;
    }
}

/// <summary>A call into libActorLlmNative failed (the text is libtorch's or CUDA's).</summary>
public sealed class CudaNativeException(string message) : Exception(message);
