using ActorLlm.Inference.Config;
using ActorLlm.Inference.Devices;
using ActorLlm.Inference.Model;
using ActorLlm.Inference.Native;
using TorchSharp;
using static TorchSharp.torch;

namespace ActorLlm.Inference.Execution;

/// <summary>
/// The streamed layers of a stage: each lives in host memory (page-locked on CUDA) and is copied, for every pass,
/// into one slot of a ring of layer-sized device buffers allocated once. Slot s holds streamed layer j at sequence
/// position p (p counts streamed layers computed since load, across passes; j = p mod layers, s = p mod slots): while
/// layer j computes, the copies of the next slots' layers are in flight, and as soon as j's compute is queued the copy
/// of layer p + slots into its slot is queued behind it.
/// </summary>
/// <remarks>
/// On CUDA with the native library (and its <c>event_block</c>) the copies run on a stream of their own: the compute
/// stream waits on the GPU for slot s's "copied" event before using it, and the copy stream waits for its "computed"
/// event before overwriting it, so the host never blocks and nothing is allocated per step (copy_ into the slot's
/// tensors, non-blocking from pinned memory). On CUDA without the library the copies are queued on the compute stream
/// (correct, no overlap). On the CPU they are plain synchronous copies between two tensor sets: the same ring and
/// sequence, which is what the CPU tests compare with resident layers. Not thread-safe; the stage's thread owns it.
/// </remarks>
internal sealed class LayerStreamer : IDisposable
{
    private readonly DecoderLayer[] _host;
    private readonly DecoderLayer[] _slots;
    private readonly Tensor[][] _hostTensors;
    private readonly Tensor[][] _slotTensors;
    private readonly int[] _holds;
    private readonly bool _overlap;
    private readonly int _device;
    private readonly IntPtr _copyStream;
    private readonly IntPtr[] _copied;
    private readonly IntPtr[] _computed;
    private long _position;

    private LayerStreamer(DecoderLayer[] host, DecoderLayer[] slots, ComputeTarget target)
    {
        _host = host;
        _slots = slots;
        _hostTensors = host.Select(l => l.Tensors.ToArray()).ToArray();
        _slotTensors = slots.Select(l => l.Tensors.ToArray()).ToArray();
        _holds = Enumerable.Repeat(-1, slots.Length).ToArray();
        LayerBytes = _hostTensors.Select(ts => ts.Sum(t => t.NumberOfElements * t.ElementSize)).ToArray();
        for (int j = 0; j < host.Length; j++)
        {
            var shapes = _hostTensors[j].Select(t => (t.dtype, Shape: string.Join("x", t.shape)));
            if (!shapes.SequenceEqual(_slotTensors[0].Select(t => (t.dtype, Shape: string.Join("x", t.shape)))))
            {
                throw new ModelFormatException($"layer {host[j].Index} does not have the tensors of layer {host[0].Index}; a streamed stage needs layers of one shape");
            }
        }

        _device = target.Device.index < 0 ? 0 : target.Device.index;
        _overlap = target.IsCuda && CudaNative.IsAvailable;
        _copied = new IntPtr[slots.Length];
        _computed = new IntPtr[slots.Length];
        if (_overlap)
        {
            _copyStream = CudaNative.StreamFromPool(_device);
            for (int s = 0; s < slots.Length; s++)
            {
                _copied[s] = CudaNative.EventCreate(timing: false);
                _computed[s] = CudaNative.EventCreate(timing: false);
            }
        }

        for (int s = 0; s < slots.Length; s++)
        {
            Fill(s, s);
        }
    }

    /// <summary>
    /// Host copies of <paramref name="layers"/> (model layer indices, in pipeline order) and a ring of
    /// <paramref name="ringSlots"/> slots (no more than there are layers) on <paramref name="device"/>'s target.
    /// </summary>
    public static LayerStreamer Load(ModelConfig config, WeightLoader device, IReadOnlyList<int> layers, int ringSlots)
    {
        if (layers.Count == 0)
        {
            throw new ArgumentException("a streamer needs at least one layer", nameof(layers));
        }

        var target = device.Target;
        var hostLoader = new WeightLoader(device.Source, new ComputeTarget(CPU, target.DType), pinned: target.IsCuda);
        var created = new List<DecoderLayer>();
        try
        {
            var host = layers.Select(i => Add(new DecoderLayer(config, hostLoader, i), created)).ToArray();

            // Slots are layers too (so they compute as every layer does), first filled with the first streamed layer's
            // weights; every pass overwrites them in place.
            int slotCount = StreamLayout.RingSlotsFor(layers.Count, ringSlots);
            var slots = Enumerable.Range(0, slotCount).Select(_ => Add(new DecoderLayer(config, device, layers[0]), created)).ToArray();
            return new LayerStreamer(host, slots, target);
        }
        catch
        {
            created.ForEach(l => l.Dispose());
            throw;
        }
    }

    private static DecoderLayer Add(DecoderLayer layer, List<DecoderLayer> created)
    {
        created.Add(layer);
        return layer;
    }

    /// <summary>Streamed layers.</summary>
    public int Count => _host.Length;

    /// <summary>Device buffers of the ring.</summary>
    public int Slots => _slots.Length;

    /// <summary>Whether copies overlap compute (CUDA with the native library).</summary>
    public bool Overlaps => _overlap;

    /// <summary>Bytes of each streamed layer, in order.</summary>
    public IReadOnlyList<long> LayerBytes { get; }

    /// <summary>Bytes copied host to device in one pass (every streamed layer once, unless the ring holds them all).</summary>
    public long BytesPerPass => Slots == Count ? 0 : LayerBytes.Sum();

    /// <summary>Bytes copied into the ring since load.</summary>
    public long CopiedBytes { get; private set; }

    /// <summary>
    /// The device layer to compute streamed layer <paramref name="j"/> with (its copy ordered before the use). Layers
    /// come in order 0, 1, .. each pass; a pass that broke off midway is resynchronised here.
    /// </summary>
    public DecoderLayer Acquire(int j)
    {
        if (j != (int)(_position % Count))
        {
            Resync(j);
        }

        int s = (int)(_position % Slots);
        if (_overlap)
        {
            CudaNative.EventBlock(_copied[s], IntPtr.Zero, _device);
        }

        return _slots[s];
    }

    /// <summary>Streamed layer <paramref name="j"/>'s compute is queued: the slot is refilled behind it.</summary>
    public void Release(int j)
    {
        if (j != (int)(_position % Count))
        {
            throw new InvalidOperationException($"streamed layer {j} released, but layer {_position % Count} is the one acquired");
        }

        int s = (int)(_position % Slots);
        if (_overlap)
        {
            CudaNative.EventRecord(_computed[s], IntPtr.Zero, _device);
        }

        _position++;
        Fill(s, (int)((_position - 1 + Slots) % Count));
    }

    /// <summary>Waits for every copy in flight and restarts the ring at layer <paramref name="j"/>.</summary>
    private void Resync(int j)
    {
        Synchronize();
        _position = _position - (_position % Count) + j;
        for (int q = 0; q < Slots; q++)
        {
            Fill((int)((_position + q) % Slots), (j + q) % Count);
        }
    }

    /// <summary>Queues the copy of streamed layer <paramref name="j"/> into slot <paramref name="s"/>.</summary>
    private void Fill(int s, int j)
    {
        if (_holds[s] == j)
        {
            return;
        }

        _holds[s] = j;
        var from = _hostTensors[j];
        var to = _slotTensors[s];
        if (_overlap)
        {
            // The slot's previous layer must be computed before it is overwritten.
            CudaNative.EventBlock(_computed[s], _copyStream, _device);
            CudaNative.StreamSetCurrent(_copyStream);
            try
            {
                Copy(from, to);
            }
            finally
            {
                CudaNative.StreamSetDefault(_device);
            }

            CudaNative.EventRecord(_copied[s], _copyStream, _device);
        }
        else
        {
            Copy(from, to);
        }

        CopiedBytes += LayerBytes[j];
    }

    private static void Copy(Tensor[] from, Tensor[] to)
    {
        for (int t = 0; t < from.Length; t++)
        {
            to[t].copy_(from[t], nonBlocking: true);
        }
    }

    private void Synchronize()
    {
        if (_overlap)
        {
            CudaNative.StreamSynchronize(_copyStream);
            cuda.synchronize(new Device(DeviceType.CUDA, _device));
        }
    }

    public void Dispose()
    {
        Synchronize();
        foreach (var layer in _slots.Concat(_host))
        {
            layer.Dispose();
        }

        if (_overlap)
        {
            foreach (var e in _copied.Concat(_computed))
            {
                CudaNative.EventDestroy(e);
            }

            CudaNative.StreamDestroy(_copyStream);
        }
    }
}
