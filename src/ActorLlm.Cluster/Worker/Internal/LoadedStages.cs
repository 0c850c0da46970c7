using ActorLlm.Inference.Execution;
using ActorLlm.Protocol;

namespace ActorLlm.Cluster.Worker.Internal;

/// <summary>
/// The executors a worker holds: normally one, two while it hands over (the new range is loaded before the old one
/// is released, and a released range keeps running until its sessions end or the drain timeout passes).
/// </summary>
internal sealed class LoadedStages : IDisposable
{
    private readonly List<Entry> _entries = [];

    private sealed class Entry(StageExecutor executor)
    {
        public StageExecutor Executor { get; } = executor;

        public DateTime? DrainingSince { get; set; }
    }

    public IEnumerable<StageExecutor> All => _entries.Select(e => e.Executor);

    public IEnumerable<UnitRange> Serving => _entries.Where(e => e.DrainingSince is null).Select(e => e.Executor.Range);

    public IEnumerable<UnitRange> Draining => _entries.Where(e => e.DrainingSince is not null).Select(e => e.Executor.Range);

    public int ActiveSessions => _entries.Sum(e => e.Executor.ActiveSessions);

    public StageExecutor? Find(UnitRange range) => _entries.FirstOrDefault(e => e.Executor.Range == range)?.Executor;

    /// <summary>Free KV cache slots of each range held, draining ones included (they serve their sessions still).</summary>
    public IReadOnlyDictionary<UnitRange, int> FreeSlots()
    {
        var free = new Dictionary<UnitRange, int>();
        foreach (var e in _entries)
        {
            free.TryAdd(e.Executor.Range, e.Executor.FreeSlots);
        }

        return free;
    }

    /// <summary>True if <paramref name="range"/> is loaded and not being released.</summary>
    public bool Serves(UnitRange range) => _entries.Any(e => e.Executor.Range == range && e.DrainingSince is null);

    public void Add(StageExecutor executor) => _entries.Add(new Entry(executor));

    /// <summary>A range assigned again while draining keeps serving.</summary>
    public bool Undrain(UnitRange range)
    {
        var entry = _entries.FirstOrDefault(e => e.Executor.Range == range);
        if (entry is null)
        {
            return false;
        }

        entry.DrainingSince = null;
        return true;
    }

    public void Drain(UnitRange range, DateTime now)
    {
        foreach (var e in _entries.Where(e => e.Executor.Range == range && e.DrainingSince is null))
        {
            e.DrainingSince = now;
        }
    }

    /// <summary>Disposes draining executors with no sessions left, or draining for longer than <paramref name="timeout"/>.</summary>
    public IReadOnlyList<UnitRange> Collect(DateTime now, TimeSpan timeout)
    {
        var done = _entries.Where(e => e.DrainingSince is DateTime since && (e.Executor.ActiveSessions == 0 || now - since > timeout)).ToList();
        foreach (var e in done)
        {
            _entries.Remove(e);
            e.Executor.Dispose();
        }

        return done.Select(e => e.Executor.Range).ToList();
    }

    public void ReleaseSession(SessionId session)
    {
        foreach (var e in _entries)
        {
            e.Executor.Release(session);
        }
    }

    public void Dispose()
    {
        foreach (var e in _entries)
        {
            e.Executor.Dispose();
        }

        _entries.Clear();
    }
}
