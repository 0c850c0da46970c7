using ActorLlm.Inference.Native;
using static TorchSharp.torch;

namespace ActorLlm.Inference.Execution;

/// <summary>How a stage runs a decode pass (one new token per session).</summary>
public enum DecodePath
{
    /// <summary>Eager ops over exactly the keys the batch needs (every device; the only path on CPU).</summary>
    Eager,

    /// <summary>
    /// Eager ops over fixed shapes: cache rows 0..N-1 and keys [0, S) for the pass's buckets N and S, positions and
    /// token ids in a device buffer. What <see cref="Graph"/> captures; the GPU check compares the two bit for bit.
    /// </summary>
    Rows,

    /// <summary>The <see cref="Rows"/> pass captured once per (N, S) as a CUDA graph and replayed (CUDA with the native library).</summary>
    Graph,
}

/// <summary>
/// The decode passes of one stage over fixed cache rows, eagerly or as CUDA graphs, one per bucket pair: N rows
/// (1, 2, 4, ... up to the cache's sessions) and S keys (64, 128, ... up to its context). Row r of a pass is cache slot
/// r, so no rows are gathered; the rows no session of the pass uses write their keys at the cache's scratch position
/// and their outputs are dropped. Inputs go in through one int64 device buffer [3, N] (token ids, positions, the
/// pass's slots in request order) and, for a stage without the embedding, a hidden-state buffer [N, 1, hidden], both
/// refreshed in place before each replay: nothing is allocated on the GPU per token but the pass's outputs. The graphs
/// share one memory pool; they are replayed one at a time on the owner's thread, and each pass's outputs are copied
/// out before the next.
/// </summary>
internal sealed class DecodeGraphs : IDisposable
{
    /// <summary>Runs the fixed-shape pass: (meta [3, N], hidden [N, 1, hidden] or null, N, S) to [N, 1, out].</summary>
    public delegate Tensor Step(Tensor meta, Tensor? hidden, int rows, int keys);

    private const int WarmupRuns = 3;
    private readonly Step _step;
    private readonly Device _device;
    private readonly int _hiddenSize;
    private readonly ScalarType _dtype;
    private readonly bool _takesHidden;
    private readonly int _scratchPosition;
    private readonly Dictionary<(int Rows, int Keys), Captured> _graphs = [];
    private IntPtr _stream;
    private IntPtr _poolOwner;

    private sealed record Captured(IntPtr Graph, Tensor Meta, Tensor? Hidden, Tensor Output);

    public DecodeGraphs(Step step, Device device, int maxSessions, int maxContext, bool takesHidden, int hiddenSize, ScalarType dtype)
    {
        _step = step;
        _device = device;
        _takesHidden = takesHidden;
        _hiddenSize = hiddenSize;
        _dtype = dtype;
        _scratchPosition = maxContext;
        RowBuckets = Buckets(1, maxSessions);
        KeyBuckets = Buckets(Math.Min(64, maxContext), maxContext);
    }

    /// <summary>Row counts a pass may have: powers of two, then the cache's session count.</summary>
    public IReadOnlyList<int> RowBuckets { get; }

    /// <summary>Key lengths a pass may read: powers of two from 64, then the cache's context.</summary>
    public IReadOnlyList<int> KeyBuckets { get; }

    /// <summary>Graphs captured so far.</summary>
    public int Captures => _graphs.Count;

    /// <summary>Set when a capture failed: graphs are then off for this stage (it runs eagerly) and this says why.</summary>
    public string? Failure { get; private set; }

    /// <summary>The smallest bucket of <paramref name="buckets"/> holding <paramref name="need"/>.</summary>
    public static int Bucket(IReadOnlyList<int> buckets, int need) => buckets.First(b => b >= need);

    /// <summary>
    /// One decode pass. <paramref name="slots"/>[i], <paramref name="positions"/>[i] and <paramref name="tokens"/>[i]
    /// are request i's cache slot, the position of its new token and the token; <paramref name="hidden"/> [B, 1, hidden]
    /// its input when the stage has no embedding. Returns [B, 1, out] in request order (the caller owns it).
    /// </summary>
    public Tensor Run(int[] slots, int[] positions, int[] tokens, Tensor? hidden, bool replay)
    {
        int rows = Bucket(RowBuckets, slots.Max() + 1);
        int keys = Bucket(KeyBuckets, positions.Max() + 1);
        var host = new long[3 * rows];
        Array.Fill(host, _scratchPosition, rows, rows);
        for (int i = 0; i < slots.Length; i++)
        {
            host[slots[i]] = tokens[i];
            host[rows + slots[i]] = positions[i];
            host[(2 * rows) + i] = slots[i];
        }

        using var scope = NewDisposeScope();
        using var hostMeta = tensor(host, [3, rows], ScalarType.Int64);
        Tensor meta, output;
        Tensor? hiddenRows = null;
        Captured? graph = null;
        if (replay)
        {
            graph = GetOrCapture(rows, keys);
            meta = graph.Meta;
            hiddenRows = graph.Hidden;
            meta.copy_(hostMeta);
        }
        else
        {
            meta = hostMeta.to(_device);
            hiddenRows = _takesHidden ? zeros([rows, 1, _hiddenSize], _dtype, _device) : null;
        }

        var order = meta[2].narrow(0, 0, slots.Length);                                     // [B] slots in request order
        if (hiddenRows is not null)
        {
            hiddenRows.index_copy_(0, order, hidden!.to(_dtype, _device));
        }

        if (graph is not null)
        {
            CudaNative.GraphReplay(graph.Graph);
            output = graph.Output;
        }
        else
        {
            output = _step(meta, hiddenRows, rows, keys);
        }

        return output.index_select(0, order).MoveToOuterDisposeScope();
    }

    private Captured GetOrCapture(int rows, int keys)
    {
        if (_graphs.TryGetValue((rows, keys), out var captured))
        {
            return captured;
        }

        // Static inputs live outside the graph's pool. While warming up and capturing, every row points at the scratch
        // position, so the runs write no session's keys.
        var idle = new long[3 * rows];
        Array.Fill(idle, _scratchPosition, rows, rows);
        var meta = tensor(idle, [3, rows], ScalarType.Int64).to(_device);
        var hidden = _takesHidden ? zeros([rows, 1, _hiddenSize], _dtype, _device) : null;
        IntPtr graph = IntPtr.Zero;
        int deviceIndex = _device.index < 0 ? 0 : _device.index;
        try
        {
            if (_stream == IntPtr.Zero)
            {
                _stream = CudaNative.StreamFromPool(deviceIndex);
            }

            graph = CudaNative.GraphCreate(_poolOwner);
            cuda.synchronize(_device);
            CudaNative.StreamSetCurrent(_stream);
            Tensor output;
            try
            {
                for (int i = 0; i < WarmupRuns; i++)
                {
                    using var warm = NewDisposeScope();
                    _step(meta, hidden, rows, keys);
                }

                CudaNative.StreamSynchronize(_stream);
                CudaNative.GraphCaptureBegin(graph);
                try
                {
                    using var capture = NewDisposeScope();
                    output = _step(meta, hidden, rows, keys).MoveToOuterDisposeScope();
                }
                finally
                {
                    CudaNative.GraphCaptureEnd(graph);
                }
            }
            finally
            {
                CudaNative.StreamSetDefault(deviceIndex);
            }

            cuda.synchronize(_device);
            if (_poolOwner == IntPtr.Zero)
            {
                _poolOwner = graph;
            }

            captured = new Captured(graph, meta.DetachFromDisposeScope(), hidden?.DetachFromDisposeScope(), output.DetachFromDisposeScope());
            _graphs[(rows, keys)] = captured;
            return captured;
        }
        catch (Exception e)
        {
            Failure = $"capturing the decode pass of {rows} rows x {keys} keys failed: {e.Message}";
            meta.Dispose();
            hidden?.Dispose();
            if (graph != IntPtr.Zero && graph != _poolOwner)
            {
                CudaNative.GraphDestroy(graph);
            }

            throw;
        }
    }

    private static int[] Buckets(int first, int last)
    {
        var buckets = new List<int>();
        for (int b = first; b < last; b *= 2)
        {
            buckets.Add(b);
        }

        buckets.Add(last);
        return [.. buckets];
    }

    public void Dispose()
    {
        // Graphs before their pool's owner: the pool lives until the last graph using it is gone.
        foreach (var g in _graphs.Values.Where(g => g.Graph != _poolOwner).Append(_graphs.Values.FirstOrDefault(g => g.Graph == _poolOwner)))
        {
            if (g is null)
            {
                continue;
            }

            g.Output.Dispose();
            g.Meta.Dispose();
            g.Hidden?.Dispose();
            CudaNative.GraphDestroy(g.Graph);
        }

        _graphs.Clear();
        if (_stream != IntPtr.Zero)
        {
            CudaNative.StreamDestroy(_stream);
            _stream = IntPtr.Zero;
        }
    }
}
