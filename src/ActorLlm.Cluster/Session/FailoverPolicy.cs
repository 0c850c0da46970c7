using System.Collections.Immutable;
using ActorLlm.Cluster.Hosting;
using ActorLlm.Protocol;
using ActorLlm.Protocol.Messages;

namespace ActorLlm.Cluster.Session;

/// <summary>
/// What a session does when something goes wrong with its job: ignore it, fail over (replay the job from its start
/// through another route that avoids the lost devices), or give up with a reason for the client. Pure: the job's
/// failover history, where it stands and the failure in; the decision (with the next history) out.
/// </summary>
/// <remarks>
/// <para>Only the current route can fail: a failure or timeout of an earlier step (a route already given up on) and a
/// suspected node the route does not use change nothing. A stage that refuses the request itself (not retryable) would
/// refuse it on any route, so the job fails at once. Everything else is a failover, at most
/// <see cref="SessionSettings.MaxFailovers"/> of them per job.</para>
/// <para>Which devices to avoid: the failing stage's device; on a timeout, every device of the silent route (which
/// one hung is unknown); on a suspected node, the route's devices on that node. Exclusions only grow within a job.
/// They are a preference, not a ban: the RouteCache still routes through excluded devices when nothing else covers
/// the model (a device that failed a step may have been the victim of a slow or stale moment, and with one replica
/// per range it is the only way to serve), so the failover bound, not the exclusions, ends a job that keeps failing.</para>
/// </remarks>
public static class FailoverPolicy
{
    /// <summary>Something that may end the current route.</summary>
    public abstract record Failure
    {
        private protected Failure()
        {
        }
    }

    /// <summary>A stage answered <paramref name="Step"/> with StageFailed: <paramref name="Device"/> could not run it.</summary>
    /// <param name="Retryable">False when the request itself is bad (another route would fail the same way).</param>
    public sealed record StageFailed(long Step, DeviceKey Device, string Reason, bool Retryable) : Failure;

    /// <summary><paramref name="Step"/> got no answer within the step timeout.</summary>
    public sealed record StepTimedOut(long Step) : Failure;

    /// <summary>The RouteCache suspects <paramref name="Node"/> is dead (<see cref="RouteCache.NodeSuspected"/>).</summary>
    public sealed record NodeSuspected(NodeAddress Node, string Why) : Failure;

    /// <summary>No route came within the route wait (the RouteCache found none covering the model).</summary>
    public sealed record RouteWaitOver : Failure
    {
        public static RouteWaitOver Instance { get; } = new();
    }

    /// <summary>
    /// Where the job stands: the step whose answers it waits for, and its route's devices, first stage first
    /// (null while it waits for a route).
    /// </summary>
    public sealed record Situation(long Step, IReadOnlyList<DeviceKey>? Route);

    /// <summary>A job's failovers so far: how many, their reasons in order, and the devices to route around.</summary>
    public sealed record History(int Failovers, ImmutableList<string> Reasons, ImmutableHashSet<DeviceKey> Excluded)
    {
        /// <summary>A job that has not failed over.</summary>
        public static History None { get; } = new(0, [], []);
    }

    /// <summary>What the session does about a failure.</summary>
    public abstract record Decision
    {
        private protected Decision()
        {
        }
    }

    /// <summary>Nothing changes: the failure is not about the current route.</summary>
    public sealed record Ignore : Decision
    {
        public static Ignore Instance { get; } = new();
    }

    /// <summary>The job fails with <paramref name="Reason"/> (sent to the client as is) and <paramref name="Kind"/>.</summary>
    public sealed record GiveUp(string Reason, JobFailure Kind = JobFailure.Failed) : Decision;

    /// <summary>
    /// Leave the current route and replay the job through one avoiding <paramref name="History"/>'s exclusions;
    /// <paramref name="History"/> is the job's history from now on (this failover counted and its reason added).
    /// </summary>
    public sealed record Failover(string Reason, History History) : Decision;

    public static Decision Decide(Failure failure, Situation now, History history, SessionSettings settings) => failure switch
    {
        StageFailed f when f.Step != now.Step => Ignore.Instance,
        StageFailed { Retryable: false } f => new GiveUp(f.Reason, JobFailure.InvalidRequest),
        StageFailed f => Replay(f.Reason, [f.Device], history, settings),
        StepTimedOut t when t.Step == now.Step && now.Route is { } route => Replay($"no answer within {settings.StepTimeout}", route, history, settings),
        StepTimedOut => Ignore.Instance,
        NodeSuspected s when OnNode(now.Route, s.Node) is { Count: > 0 } lost => Replay($"{s.Node} {s.Why}", lost, history, settings),
        NodeSuspected => Ignore.Instance,
        RouteWaitOver => new GiveUp(
            $"no complete route to the model within {settings.RouteWait} ({string.Join("; ", history.Reasons.DefaultIfEmpty("placement not ready"))})",
            JobFailure.NoRoute),
        _ => throw new ArgumentOutOfRangeException(nameof(failure), failure, "not a failure this policy knows"),
    };

    /// <summary>
    /// Verification caught the route computing wrong results (<paramref name="reason"/>): replay from the last audited
    /// token on a route avoiding <paramref name="suspects"/> (the route's volunteers), within the failover bound.
    /// </summary>
    public static Decision Distrust(string reason, IEnumerable<DeviceKey> suspects, History history, SessionSettings settings) =>
        Replay(reason, suspects, history, settings);

    private static List<DeviceKey> OnNode(IReadOnlyList<DeviceKey>? route, NodeAddress node) =>
        [.. (route ?? []).Where(d => d.Node == node)];

    private static Decision Replay(string reason, IEnumerable<DeviceKey> lost, History history, SessionSettings settings)
    {
        var reasons = history.Reasons.Add(reason);
        int failovers = history.Failovers + 1;
        return failovers > settings.MaxFailovers
            ? new GiveUp($"gave up after {settings.MaxFailovers} failovers: {string.Join("; ", reasons)}")
            : new Failover(reason, new History(failovers, reasons, history.Excluded.Union(lost)));
    }
}
