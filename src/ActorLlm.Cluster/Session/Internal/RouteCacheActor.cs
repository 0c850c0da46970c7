using ActorLlm.Cluster.Hosting;
using ActorLlm.Protocol;
using ActorLlm.Protocol.Messages;
using Akka.Actor;
using Akka.Cluster;
using Akka.Cluster.Tools.PublishSubscribe;
using Akka.Event;
using Akka.Remote;

namespace ActorLlm.Cluster.Session.Internal;

/// <summary>See <see cref="RouteCache"/>.</summary>
internal sealed class RouteCacheActor : ReceiveActor, IWithTimers
{
    private readonly RouteCacheSettings _settings;
    private readonly IActorRef _coordinator;
    private readonly IActorRef? _mediator;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly Dictionary<DeviceKey, int> _inUse = [];
    private readonly HashSet<NodeAddress> _suspectedNodes = [];
    private readonly HashSet<DeviceKey> _quarantined = [];
    private readonly List<(IActorRef Requester, RouteCache.Select Select)> _waiting = [];
    private PlacementMessages.RouteTable _table = PlacementMessages.RouteTable.Empty;

    private sealed record AskAgain
    {
        public static AskAgain Instance { get; } = new();
    }

    private sealed record Unsuspect(NodeAddress Node);

    public RouteCacheActor(RouteCacheSettings settings, IActorRef coordinator, IActorRef? mediator)
    {
        _settings = settings;
        _coordinator = coordinator;
        _mediator = mediator;
        Receive<PlacementMessages.RouteTable>(OnTable);
        Receive<SubscribeAck>(_ => { });
        Receive<AskAgain>(_ => _coordinator.Tell(new PlacementMessages.GetRoutes()));
        Receive<RouteCache.Quarantined>(q => _quarantined.Add(q.Device));
        Receive<RouteCache.Select>(s => s.Audit, s =>
        {
            if (!TryAnswer(Sender, s))
            {
                Sender.Tell(RouteCache.NoAuditRoute.Instance);
            }
        });
        Receive<RouteCache.Select>(s =>
        {
            if (!TryAnswer(Sender, s))
            {
                _waiting.Add((Sender, s));
            }
        });
        Receive<RouteCache.CancelSelect>(_ => _waiting.RemoveAll(w => w.Requester.Equals(Sender)));
        Receive<RouteCache.Done>(d =>
        {
            foreach (var e in d.Route)
            {
                if (_inUse.TryGetValue(e.Device.Key, out int n))
                {
                    _inUse[e.Device.Key] = Math.Max(0, n - 1);
                }
            }
        });
        Receive<RouteCache.GetTable>(_ => Sender.Tell(_table));
        Receive<ClusterEvent.UnreachableMember>(m =>
        {
            Suspect(NodeAddress.Of(m.Member.Address), "unreachable");
            AskIfGateway(m.Member);
        });
        Receive<ClusterEvent.MemberRemoved>(m =>
        {
            Suspect(NodeAddress.Of(m.Member.Address), "removed");
            AskIfGateway(m.Member);
        });
        Receive<ClusterEvent.ReachableMember>(m =>
        {
            _suspectedNodes.Remove(NodeAddress.Of(m.Member.Address));
            AnswerWaiting();
        });
        Receive<DisassociatedEvent>(d => Suspect(NodeAddress.Of(d.RemoteAddress), "connection lost"));
        Receive<Unsuspect>(u =>
        {
            var cluster = Akka.Cluster.Cluster.Get(Context.System);
            if (cluster.State.Unreachable.Any(m => NodeAddress.Of(m.Address) == u.Node))
            {
                Timers.StartSingleTimer("suspect-" + u.Node, u, _settings.SuspicionLapse);
                return;
            }

            _suspectedNodes.Remove(u.Node);
            AnswerWaiting();
        });
        Receive<ClusterEvent.IMemberEvent>(_ => { });
    }

    public ITimerScheduler Timers { get; set; } = null!;

    protected override void PreStart()
    {
        _mediator?.Tell(new Subscribe(Placement.PlacementCoordinator.RoutesTopic, Self));
        Akka.Cluster.Cluster.Get(Context.System).Subscribe(Self, ClusterEvent.SubscriptionInitialStateMode.InitialStateAsEvents, typeof(ClusterEvent.IReachabilityEvent), typeof(ClusterEvent.MemberRemoved));
        Context.System.EventStream.Subscribe(Self, typeof(DisassociatedEvent));

        // Until the coordinator has answered with a table it built, ask for it: a node that joins late has missed the
        // last publication, and a coordinator that has just started has none yet.
        StartAsking();
    }

    private void StartAsking() => Timers.StartPeriodicTimer("ask", AskAgain.Instance, TimeSpan.Zero, _settings.TableRequestInterval);

    /// <summary>
    /// A gateway lost may have held the coordinator singleton: ask again until a table comes, from the coordinator that
    /// took over (a newer epoch) or from the one that is still there, rather than count on not missing its next publication.
    /// </summary>
    private void AskIfGateway(Member member)
    {
        if (member.HasRole(ActorLlmRoles.Gateway))
        {
            StartAsking();
        }
    }

    protected override void PostStop()
    {
        Akka.Cluster.Cluster.Get(Context.System).Unsubscribe(Self);
        Context.System.EventStream.Unsubscribe(Self);
    }

    private void OnTable(PlacementMessages.RouteTable table)
    {
        // A table the coordinator built (version 1 on) is an answer: the current one, or a newer publication.
        if (table.Version > 0 && !_table.IsNewerThan(table))
        {
            Timers.Cancel("ask");
        }

        // Ordered by (epoch, version): after the singleton moves, versions start again from 1 under a newer epoch. A
        // coordinator's empty table (version 0, before anyone registered with it) never replaces a table with routes.
        if (!table.IsNewerThan(_table) || (table.Version == 0 && _table.Version > 0))
        {
            return;
        }

        _table = table;
        AnswerWaiting();
    }

    private void Suspect(NodeAddress node, string why)
    {
        if (!_suspectedNodes.Add(node))
        {
            return;
        }

        // A dropped connection alone is not proof of death: the suspicion lapses unless the node is unreachable by then.
        _log.Info("routes: {0} suspected ({1})", node, why);
        Timers.StartSingleTimer("suspect-" + node, new Unsuspect(node), _settings.SuspicionLapse);
        Context.System.EventStream.Publish(new RouteCache.NodeSuspected(node, why));
    }

    private void AnswerWaiting()
    {
        foreach (var w in _waiting.ToList())
        {
            if (TryAnswer(w.Requester, w.Select))
            {
                _waiting.Remove(w);
            }
        }
    }

    private bool TryAnswer(IActorRef requester, RouteCache.Select select)
    {
        var (excluded, audit) = (select.Excluded, select.Audit);
        bool trustedOnly = audit || select.TrustedOnly;
        var usable = _table.Stages.Where(e => !_suspectedNodes.Contains(e.Device.Node) && !_quarantined.Contains(e.Device.Key) && (!trustedOnly || Verification.MayAudit(e))).ToList();
        double Load(RouteEntry e) => e.ActiveSessions + _inUse.GetValueOrDefault(e.Device.Key);
        var route = RouteSelection.Select(usable, _table.UnitCount, excluded, Load)
            ?? (excluded.Count > 0 && !audit ? RouteSelection.Select(usable, _table.UnitCount, new HashSet<DeviceKey>(), Load) : null);
        if (route is null)
        {
            return false;
        }

        foreach (var e in route)
        {
            _inUse[e.Device.Key] = _inUse.GetValueOrDefault(e.Device.Key) + 1;
        }

        requester.Tell(new RouteCache.Selected(route, _table.Version, audit));
        return true;
    }
}
