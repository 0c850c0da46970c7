using ActorLlm.Protocol;

namespace ActorLlm.Cluster.Worker.Internal;

/// <summary>
/// The sessions released on a worker within the last <paramref name="memory"/>. A session releases every stage of its
/// route when its job ends, while a step of it may still be on its way through upstream stages; such a late step
/// must not run (it would take a KV cache slot that nobody releases again), so the scheduler drops the steps of the
/// sessions remembered here. Session ids are per job, so forgetting them after a while loses nothing.
/// </summary>
internal sealed class ReleasedSessions(TimeSpan memory)
{
    private readonly Dictionary<SessionId, DateTime> _releasedAt = [];
    private readonly Queue<(SessionId Session, DateTime At)> _order = new();

    public int Count => _releasedAt.Count;

    public bool Contains(SessionId session) => _releasedAt.ContainsKey(session);

    /// <summary>Remembers <paramref name="session"/> as released at <paramref name="now"/>, and forgets those released too long before.</summary>
    public void Add(SessionId session, DateTime now)
    {
        _releasedAt[session] = now;
        _order.Enqueue((session, now));
        while (_order.TryPeek(out var oldest) && now - oldest.At > memory)
        {
            _order.Dequeue();

            // A session released twice is forgotten only after its latest release.
            if (_releasedAt.TryGetValue(oldest.Session, out var at) && at == oldest.At)
            {
                _releasedAt.Remove(oldest.Session);
            }
        }
    }
}
