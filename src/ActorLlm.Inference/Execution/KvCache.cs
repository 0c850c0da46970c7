using ActorLlm.Inference.Devices;
using ActorLlm.Protocol;
using static TorchSharp.torch;

namespace ActorLlm.Inference.Execution;

/// <summary>Sizes of a stage's KV cache: how many sessions at once and how many positions each.</summary>
public sealed record KvCacheOptions(int MaxSessions = 16, int MaxContext = 2048)
{
    public void Validate()
    {
        if (MaxSessions <= 0 || MaxContext <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxSessions), "KV cache sizes must be positive");
        }
    }
}

/// <summary>
/// The keys and values of every session passing through a stage, preallocated once:
/// per layer K and V of shape [MaxSessions, kvHeads, MaxContext, headDim]. A session owns one slot (a row)
/// from its first request until it is released; its length is the number of positions written.
/// Preallocation keeps decode free of per-token cache allocations and lets a batch of sessions be written with
/// one indexed copy per layer.
/// </summary>
public sealed class KvCache : IDisposable
{
    private readonly Tensor[] _keys;
    private readonly Tensor[] _values;
    private readonly Dictionary<SessionId, int> _slotOf = [];
    private readonly int[] _length;
    private readonly SortedSet<int> _free;

    /// <param name="scratchColumn">
    /// Allocate one position more than the context, <see cref="ScratchPosition"/>: a decode pass over fixed cache rows
    /// (a CUDA graph's) points the rows it does not serve there, so their writes touch no session's keys.
    /// </param>
    public KvCache(int layers, int kvHeads, int headDim, KvCacheOptions options, ComputeTarget target, bool scratchColumn = false)
    {
        options.Validate();
        Options = options;
        _keys = new Tensor[layers];
        _values = new Tensor[layers];
        long columns = options.MaxContext + (scratchColumn ? 1 : 0);
        for (int i = 0; i < layers; i++)
        {
            _keys[i] = zeros([options.MaxSessions, kvHeads, columns, headDim], target.DType, target.Device);
            _values[i] = zeros([options.MaxSessions, kvHeads, columns, headDim], target.DType, target.Device);
        }

        _length = new int[options.MaxSessions];
        _free = new SortedSet<int>(Enumerable.Range(0, options.MaxSessions));
    }

    /// <summary>The position past the context (when the cache has a scratch column): written, never read.</summary>
    public int ScratchPosition => Options.MaxContext;

    /// <summary>The highest slot in use, or -1 (slots are handed out lowest first, so they stay packed).</summary>
    public int HighestSlot => _slotOf.Count == 0 ? -1 : _slotOf.Values.Max();

    public KvCacheOptions Options { get; }

    public int ActiveSessions => _slotOf.Count;

    /// <summary>Layer <paramref name="layer"/>'s (index within the stage) keys: [MaxSessions, kvHeads, MaxContext (+1 scratch), D].</summary>
    public Tensor Keys(int layer) => _keys[layer];

    /// <summary>Layer <paramref name="layer"/>'s values: [MaxSessions, kvHeads, MaxContext, D].</summary>
    public Tensor Values(int layer) => _values[layer];

    /// <summary>Positions written for <paramref name="session"/> (0 if it has none).</summary>
    public int Length(SessionId session) => _slotOf.TryGetValue(session, out int s) ? _length[s] : 0;

    public bool Has(SessionId session) => _slotOf.ContainsKey(session);

    /// <summary>
    /// Checks that <paramref name="session"/> may write <paramref name="count"/> positions from
    /// <paramref name="start"/>: no gap after what it has, within the context. Starting earlier than its
    /// length rewrites from there (a replay after failover, or a retried step).
    /// </summary>
    public void CheckWrite(SessionId session, int start, int count)
    {
        int length = Length(session);
        if (start < 0 || start > length)
        {
            throw new InvalidRequestException(
                $"session {session}: input starts at position {start} but this stage holds {length} positions for it (no gaps allowed)");
        }

        if (start + count > Options.MaxContext)
        {
            throw new InvalidRequestException(
                $"session {session}: positions up to {start + count} exceed the context of {Options.MaxContext} tokens");
        }

        if (!Has(session) && _free.Count == 0)
        {
            throw new InvalidRequestException($"stage is full: {Options.MaxSessions} sessions already hold KV cache slots");
        }
    }

    /// <summary>
    /// The slot of <paramref name="session"/>, taking the lowest free one on first use (so the sessions of a stage sit
    /// in the first rows and a decode pass over rows 0..N-1 covers them with the smallest N). Call <see cref="CheckWrite"/> first.
    /// </summary>
    public int Acquire(SessionId session)
    {
        if (_slotOf.TryGetValue(session, out int slot))
        {
            return slot;
        }

        slot = _free.Min;
        _free.Remove(slot);
        _slotOf[session] = slot;
        _length[slot] = 0;

        // A batch reads every row up to its longest member, masking the rest; masked scores get zero weight,
        // but 0 x (a non-finite stale value) would still be NaN, so a new owner starts from zeros.
        using var scope = NewDisposeScope();
        for (int i = 0; i < _keys.Length; i++)
        {
            using var k = _keys[i][slot];
            using var v = _values[i][slot];
            k.zero_();
            v.zero_();
        }

        return slot;
    }

    /// <summary>Records that the session's positions now end at <paramref name="end"/>.</summary>
    public void SetLength(SessionId session, int end) => _length[_slotOf[session]] = end;

    /// <summary>Frees the session's slot for the next session.</summary>
    public bool Release(SessionId session)
    {
        if (!_slotOf.Remove(session, out int slot))
        {
            return false;
        }

        _length[slot] = 0;
        _free.Add(slot);
        return true;
    }

    public void Dispose()
    {
        foreach (var t in _keys.Concat(_values))
        {
            t.Dispose();
        }
    }
}
