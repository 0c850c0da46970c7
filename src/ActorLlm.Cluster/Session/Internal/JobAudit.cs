using ActorLlm.Protocol;
using ActorLlm.Protocol.Messages;

namespace ActorLlm.Cluster.Session.Internal;

/// <summary>
/// A session's verification of its job (see <see cref="Verification"/>): the trusted audit route and what its caches
/// hold, how many sampled tokens are audited, the audit in flight, and the text held back until audited.
/// </summary>
internal sealed class JobAudit(SessionId job)
{
    private readonly List<(int Sampled, JobMessages.TextDelta Delta)> _held = [];

    /// <summary>The stage session the audit route's caches are kept under (apart from the job's own).</summary>
    public SessionId Session { get; } = new(job.Value + "~audit");

    /// <summary>The trusted route audits run on; null until one is selected, and after it failed.</summary>
    public ActiveRoute? Route { get; set; }

    /// <summary>An audit route was asked for and has not come.</summary>
    public bool RouteRequested { get; set; }

    /// <summary>Positions the audit route's caches hold.</summary>
    public int Cached { get; set; }

    /// <summary>Sampled tokens audited and found honest.</summary>
    public int Verified { get; set; }

    /// <summary>Number of the audit in flight; answers carrying another are stale.</summary>
    public long Step { get; set; }

    /// <summary>The audit in flight, or null.</summary>
    public Verification.AuditWindow? InFlight { get; set; }

    /// <summary>Audit routes lost (failed or silent) so far.</summary>
    public int Lost { get; set; }

    /// <summary>Tokens checked by audits over the job (the honest count for the report).</summary>
    public int Checked { get; set; }

    /// <summary>Holds a delta produced once <paramref name="sampled"/> tokens had been taken.</summary>
    public void Hold(int sampled, JobMessages.TextDelta delta) => _held.Add((sampled, delta));

    /// <summary>The held deltas whose tokens are all audited now, in order (removed from the hold).</summary>
    public IReadOnlyList<JobMessages.TextDelta> Release()
    {
        var ready = _held.TakeWhile(h => h.Sampled <= Verified).Select(h => h.Delta).ToList();
        _held.RemoveRange(0, ready.Count);
        return ready;
    }

    /// <summary>Everything held, whatever its audit (verification gave up on the job).</summary>
    public IReadOnlyList<JobMessages.TextDelta> ReleaseAll()
    {
        var all = _held.Select(h => h.Delta).ToList();
        _held.Clear();
        return all;
    }

    /// <summary>Drops the held deltas of tokens after the first <paramref name="keep"/> (a rewind).</summary>
    public void DropAfter(int keep) => _held.RemoveAll(h => h.Sampled > keep);
}
