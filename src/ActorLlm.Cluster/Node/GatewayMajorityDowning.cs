using Akka.Actor;
using Akka.Cluster;
using Akka.Event;

namespace ActorLlm.Cluster.Node;

/// <summary>
/// The pool's downing provider (akka.cluster.downing-provider-class): <see cref="GatewayMajority"/> applied by every
/// member once the set of members it sees unreachable has not changed for <c>actorllm.downing.stable-after</c>.
/// </summary>
/// <remarks>
/// Written here rather than configured from Akka's split-brain resolver because none of its strategies fits a pool
/// whose members come and go: keep-majority counts only Up members and downs the living once the dead outnumber them
/// (churn), keep-oldest downs everyone when the oldest gateway crashes, static-quorum needs a fixed size and downs all
/// once there are more members than that, lease-majority needs a lease service. docs/operations.md has the measurements.
/// </remarks>
public sealed class GatewayMajorityDowningProvider : IDowningProvider
{
    private readonly Akka.Cluster.Cluster _cluster;
    private readonly TimeSpan _stableAfter;
    private readonly TimeSpan _lonelyAfter;

    public GatewayMajorityDowningProvider(ActorSystem system, Akka.Cluster.Cluster cluster)
    {
        _cluster = cluster;
        TimeSpan Read(string key) => system.Settings.Config.HasPath(key)
            ? system.Settings.Config.GetTimeSpan(key)
            : throw new Akka.Configuration.ConfigurationException($"{key} is missing (config/reference.conf defines it)");
        _stableAfter = Read("actorllm.downing.stable-after");
        _lonelyAfter = Read("actorllm.downing.lonely-after");
    }

    public GatewayMajorityDowningProvider(ActorSystem system)
        : this(system, Akka.Cluster.Cluster.Get(system))
    {
    }

    /// <summary>Singletons and shards of a downed side move after this margin: by then the losing side has downed itself.</summary>
    public TimeSpan DownRemovalMargin => _stableAfter;

    public Props DowningActorProps => Props.Create(() => new GatewayMajorityDowner(_cluster, _stableAfter, _lonelyAfter));
}

/// <summary>Watches reachability; when it has been stable for stable-after, a gateway on the side that stays downs the unreachable, and every member of the side that goes downs itself.</summary>
internal sealed class GatewayMajorityDowner : ReceiveActor, IWithTimers
{
    private const string GatewayRole = "gateway";
    private readonly Akka.Cluster.Cluster _cluster;
    private readonly TimeSpan _stableAfter;
    private readonly TimeSpan _lonelyAfter;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly System.Diagnostics.Stopwatch _sinceChange = new();
    private HashSet<UniqueAddress> _unreachable = [];

    public GatewayMajorityDowner(Akka.Cluster.Cluster cluster, TimeSpan stableAfter, TimeSpan lonelyAfter)
    {
        _cluster = cluster;
        _stableAfter = stableAfter;
        _lonelyAfter = lonelyAfter;
        // Who is unreachable is followed from the events themselves: Cluster.State is updated by another actor and may
        // not show an event yet when it arrives here (measured: a dead gateway's UnreachableMember was missed, and the
        // wait started only at the next membership change, 90 s later).
        Receive<ClusterEvent.CurrentClusterState>(s => Changed([.. Counted(s.Unreachable).Select(m => m.UniqueAddress)]));
        Receive<ClusterEvent.UnreachableMember>(e => Changed(Counted([e.Member]).Any() ? [.. _unreachable, e.Member.UniqueAddress] : _unreachable));
        Receive<ClusterEvent.ReachableMember>(e => Changed([.. _unreachable.Where(a => a != e.Member.UniqueAddress)]));
        Receive<ClusterEvent.IMemberEvent>(e => Changed(Counted([e.Member]).Any() ? _unreachable : [.. _unreachable.Where(a => a != e.Member.UniqueAddress)]));
        Receive<Stable>(_ => Act());
    }

    public ITimerScheduler Timers { get; set; } = null!;

    protected override void PreStart() =>
        _cluster.Subscribe(Self, ClusterEvent.SubscriptionInitialStateMode.InitialStateAsSnapshot, typeof(ClusterEvent.IReachabilityEvent), typeof(ClusterEvent.IMemberEvent));

    protected override void PostStop() => _cluster.Unsubscribe(Self);

    /// <summary>A change of who is unreachable restarts the wait; other membership changes do not.</summary>
    private void Changed(HashSet<UniqueAddress> now)
    {
        if (now.SetEquals(_unreachable))
        {
            return;
        }

        _unreachable = now;
        _sinceChange.Restart();
        if (now.Count == 0)
        {
            Timers.Cancel(nameof(Stable));
        }
        else
        {
            Timers.StartSingleTimer(nameof(Stable), Stable.Instance, _stableAfter);
        }
    }

    private void Act()
    {
        // Looked at again after stable-after while anyone is still unreachable (a Down takes a gossip round to spread).
        if (_unreachable.Count > 0)
        {
            Timers.StartSingleTimer(nameof(Stable), Stable.Instance, _stableAfter);
        }

        var state = _cluster.State;
        var unreachable = Counted(state.Unreachable).ToList();
        if (unreachable.Count == 0)
        {
            return;
        }

        var unreachableSet = unreachable.Select(m => m.UniqueAddress).ToHashSet();
        var reachable = Counted(state.Members).Where(m => !unreachableSet.Contains(m.UniqueAddress)).ToList();
        var decision = GatewayMajority.Decide(
            [.. reachable.Select(m => new DowningMember(m.Address, m.HasRole(GatewayRole)))],
            [.. unreachable.Select(m => new DowningMember(m.Address, m.HasRole(GatewayRole)))]);
        // Every member decides from its own view, not only the leader: in a churned pool the leader can be a member that
        // never acts (measured: with the test's client as the leader, a dead worker stayed Up and unreachable for
        // minutes, blocking the removal of every other dead member). On the side that stays, the gateways down the
        // unreachable (Down is idempotent; a gateway is trusted, while a volunteer's Down of another member is refused by
        // the membership guard, docs/security.md); on the side that goes, each member downs only itself, so nobody downs
        // a peer it can reach.
        bool stays = decision == DowningDecision.DownUnreachable;
        if (stays && !_cluster.SelfMember.HasRole(GatewayRole))
        {
            return;
        }

        // A side without a gateway waits longer before it goes (GatewayMajority.WaitBeforeGoing); looked at again then.
        var wait = GatewayMajority.WaitBeforeGoing([.. reachable.Select(m => new DowningMember(m.Address, m.HasRole(GatewayRole)))], _stableAfter, _lonelyAfter);
        if (!stays && _sinceChange.Elapsed < wait)
        {
            Timers.StartSingleTimer(nameof(Stable), Stable.Instance, wait - _sinceChange.Elapsed);
            return;
        }

        _log.Warning(
            $"downing: {unreachable.Count} unreachable for {_sinceChange.Elapsed.TotalSeconds:F0} s ({string.Join(", ", unreachable.Select(m => m.Address))}); "
            + $"this side has {reachable.Count(m => m.HasRole(GatewayRole))} gateway(s) of {reachable.Count} member(s), the other "
            + $"{unreachable.Count(m => m.HasRole(GatewayRole))} of {unreachable.Count}: downing "
            + (stays ? "the unreachable" : "this node"));
        if (stays)
        {
            foreach (var m in unreachable)
            {
                _cluster.Down(m.Address);
            }
        }
        else
        {
            _cluster.Down(_cluster.SelfAddress);
        }
    }

    /// <summary>Members that have joined and not yet left or been downed.</summary>
    private static IEnumerable<Member> Counted(IEnumerable<Member> members) =>
        members.Where(m => m.Status is MemberStatus.Joining or MemberStatus.WeaklyUp or MemberStatus.Up or MemberStatus.Leaving);

    private sealed class Stable
    {
        public static readonly Stable Instance = new();
    }
}
