namespace ActorLlm.Gateway.Dashboard;

/// <summary>What kind of thing happened in the pool (the dashboard colours events by it; metrics count by it).</summary>
public enum PoolEventKind
{
    /// <summary>A node joined the cluster or a device registered.</summary>
    Join,

    /// <summary>A node left (or was removed from) the cluster, or a device went away.</summary>
    Leave,

    /// <summary>A node became unreachable, or looks dead to this gateway's route cache.</summary>
    Unreachable,

    /// <summary>An unreachable node is reachable again.</summary>
    Reachable,

    /// <summary>A new placement is rolling out (assigned ranges differ from served ones), or has finished.</summary>
    Rollout,

    /// <summary>The route table changed version, or the placement's status changed.</summary>
    Placement,

    /// <summary>A job moved to a replica after a stage failed.</summary>
    Failover,

    /// <summary>Verification caught a volunteer's route lying (its volunteer quarantined), or a job could not be audited.</summary>
    Verification,

    /// <summary>Anything else worth a line (the gateway started, the coordinator stopped answering).</summary>
    Info,
}

/// <summary>One thing that happened, numbered in the order this gateway saw it (ids start at 1 and only grow).</summary>
public sealed record PoolEvent(long Id, DateTimeOffset At, PoolEventKind Kind, string Message);

/// <summary>
/// The gateway's recent pool events: a bounded ring (the oldest fall off), thread-safe. The dashboard's live feed
/// sends a new client the whole ring, then every event after the last it sent; <see cref="Changed"/> completes at
/// the next <see cref="Add"/>.
/// </summary>
public sealed class EventRing
{
    private readonly Lock _lock = new();
    private readonly PoolEvent[] _ring;
    private readonly TimeProvider _clock;
    private long _lastId;
    private TaskCompletionSource _changed = NewSignal();

    public EventRing(int capacity, TimeProvider? clock = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        _ring = new PoolEvent[capacity];
        _clock = clock ?? TimeProvider.System;
    }

    public int Capacity => _ring.Length;

    /// <summary>The id of the newest event (0 before the first).</summary>
    public long LastId
    {
        get
        {
            lock (_lock)
            {
                return _lastId;
            }
        }
    }

    /// <summary>Completes when the next event is added.</summary>
    public Task Changed
    {
        get
        {
            lock (_lock)
            {
                return _changed.Task;
            }
        }
    }

    /// <summary>Fires after every <see cref="Add"/> (metrics count events by kind), outside the ring's lock.</summary>
    public event Action<PoolEvent>? Added;

    public PoolEvent Add(PoolEventKind kind, string message)
    {
        PoolEvent e;
        TaskCompletionSource changed;
        lock (_lock)
        {
            e = new PoolEvent(++_lastId, _clock.GetUtcNow(), kind, message);
            _ring[(int)((e.Id - 1) % _ring.Length)] = e;
            changed = _changed;
            _changed = NewSignal();
        }

        changed.TrySetResult();
        Added?.Invoke(e);
        return e;
    }

    /// <summary>
    /// The events after <paramref name="afterId"/> still in the ring, oldest first: all of them for 0, and for an id
    /// this ring never gave (a client of an earlier gateway process reconnecting with its last id).
    /// </summary>
    public IReadOnlyList<PoolEvent> Since(long afterId)
    {
        lock (_lock)
        {
            if (afterId > _lastId)
            {
                afterId = 0;
            }

            long first = Math.Max(Math.Max(afterId, 0) + 1, _lastId - _ring.Length + 1);
            var events = new List<PoolEvent>((int)Math.Max(0, _lastId - first + 1));
            for (long id = first; id <= _lastId; id++)
            {
                events.Add(_ring[(int)((id - 1) % _ring.Length)]);
            }

            return events;
        }
    }

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);
}
