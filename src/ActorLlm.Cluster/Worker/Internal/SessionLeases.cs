using ActorLlm.Protocol;
using Akka.Actor;

namespace ActorLlm.Cluster.Worker.Internal;

/// <summary>
/// A lease on each session's KV cache slot, renewed by every step of the session that arrives at the worker: who owns
/// the session (the node its session actor, the steps' reply-to, lives on) and when its latest step came. A session
/// normally ends by releasing its stages; one whose gateway died never will, so the worker releases the sessions of
/// a node that left the cluster (<see cref="OwnedBy"/>), and any session with no step for a long time
/// (<see cref="IdleSince"/>), the backstop for an owner that is gone but not (yet) removed.
/// </summary>
internal sealed class SessionLeases
{
    private readonly Dictionary<SessionId, (Address Owner, DateTime LastStep)> _leases = [];

    public int Count => _leases.Count;

    public void Renew(SessionId session, Address owner, DateTime now) => _leases[session] = (owner, now);

    public void Release(SessionId session) => _leases.Remove(session);

    /// <summary>The sessions whose steps answer to actors on <paramref name="node"/>.</summary>
    public IReadOnlyList<SessionId> OwnedBy(Address node) =>
        [.. _leases.Where(l => l.Value.Owner.Equals(node)).Select(l => l.Key)];

    /// <summary>The sessions whose latest step arrived before <paramref name="cutoff"/>.</summary>
    public IReadOnlyList<SessionId> IdleSince(DateTime cutoff) =>
        [.. _leases.Where(l => l.Value.LastStep < cutoff).Select(l => l.Key)];
}
