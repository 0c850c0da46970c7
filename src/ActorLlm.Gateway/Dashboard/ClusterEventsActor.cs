using ActorLlm.Cluster.Session;
using Akka.Actor;
using Akka.Cluster;

namespace ActorLlm.Gateway.Dashboard;

/// <summary>
/// Writes what this gateway hears about the cluster into its <see cref="EventRing"/>: Akka's member events (a node
/// up, leaving, removed, downed), reachability, and the route cache's suspicions (a dropped connection to a node
/// some job was using), and verification's findings (also counted in the metrics). Nodes are named by
/// their machine where the last status knows it.
/// </summary>
public sealed class ClusterEventsActor : ReceiveActor
{
    public ClusterEventsActor(EventRing ring, Func<string, string?> machineOf, ApiMetrics? metrics = null)
    {
        string Who(Member m) => PoolEventText.Node(m.Address.ToString(), m.Roles, machineOf(m.Address.ToString()));

        Receive<ClusterEvent.MemberUp>(e => ring.Add(PoolEventKind.Join, $"{Who(e.Member)} is up"));
        Receive<ClusterEvent.MemberLeft>(e => ring.Add(PoolEventKind.Leave, $"{Who(e.Member)} is leaving"));
        Receive<ClusterEvent.MemberDowned>(e => ring.Add(PoolEventKind.Leave, $"{Who(e.Member)} was downed"));
        Receive<ClusterEvent.MemberRemoved>(e => ring.Add(PoolEventKind.Leave, $"{Who(e.Member)} was removed (it was {e.PreviousStatus})"));
        Receive<ClusterEvent.UnreachableMember>(e => ring.Add(PoolEventKind.Unreachable, $"{Who(e.Member)} is unreachable"));
        Receive<ClusterEvent.ReachableMember>(e => ring.Add(PoolEventKind.Reachable, $"{Who(e.Member)} is reachable again"));
        Receive<RouteCache.NodeSuspected>(e => ring.Add(PoolEventKind.Unreachable, $"routes: {PoolEventText.Node(e.Node.Value, [], machineOf(e.Node.Value))} suspected ({e.Why})"));
        Receive<Verification.TokensAudited>(e => metrics?.Audited(e.Tokens));
        Receive<Verification.RouteCaught>(e =>
        {
            metrics?.Caught();
            string who = e.Quarantined.Length > 0 ? $"{string.Join(", ", e.Quarantined)} quarantined" : $"no one quarantined (suspects: {string.Join(", ", e.Suspects)})";
            ring.Add(PoolEventKind.Verification, $"verification: job {e.Session} caught a wrong result ({e.Reason}); {who}; the job replays from its last audited token");
        });
        Receive<Verification.GaveUp>(e =>
        {
            metrics?.Unaudited();
            ring.Add(PoolEventKind.Verification, $"verification: job {e.Session} runs unaudited: {e.Reason}");
        });
        ReceiveAny(_ => { });
    }

    protected override void PreStart()
    {
        Akka.Cluster.Cluster.Get(Context.System).Subscribe(Self, ClusterEvent.SubscriptionInitialStateMode.InitialStateAsEvents, typeof(ClusterEvent.IMemberEvent), typeof(ClusterEvent.IReachabilityEvent));
        Context.System.EventStream.Subscribe(Self, typeof(RouteCache.NodeSuspected));
        Context.System.EventStream.Subscribe(Self, typeof(Verification.TokensAudited));
        Context.System.EventStream.Subscribe(Self, typeof(Verification.RouteCaught));
        Context.System.EventStream.Subscribe(Self, typeof(Verification.GaveUp));
    }

    protected override void PostStop()
    {
        Akka.Cluster.Cluster.Get(Context.System).Unsubscribe(Self);
        Context.System.EventStream.Unsubscribe(Self);
    }
}

/// <summary>How events name things for people.</summary>
public static class PoolEventText
{
    /// <summary>"worker-1 (worker, akka.tcp://actorllm@10.0.0.2:4051)", or without a known machine "gateway node akka.tcp://...".</summary>
    public static string Node(string address, IEnumerable<string> roles, string? machine)
    {
        string roleList = string.Join(",", roles.Order(StringComparer.Ordinal));
        return machine is { Length: > 0 }
            ? $"{machine} ({(roleList.Length > 0 ? roleList + ", " : "")}{address})"
            : $"{(roleList.Length > 0 ? roleList + " " : "")}node {address}";
    }
}
