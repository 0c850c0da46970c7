using ActorLlm.Cluster.Hosting;
using ActorLlm.Protocol;
using ActorLlm.Protocol.Messages;
using Akka.Actor;
using Akka.Cluster;
using Akka.Cluster.Tools.PublishSubscribe;
using Akka.Event;

namespace ActorLlm.Cluster.Placement.Internal;

/// <summary>See <see cref="PlacementCoordinator"/>.</summary>
internal sealed class PlacementCoordinatorActor : ReceiveActor, IWithTimers
{
    private readonly ModelUnits _model;
    private readonly PlacementSettings _settings;
    private readonly IActorRef _localUnitServer;
    private readonly IReadOnlyCollection<int> _localUnits;
    private readonly IActorRef _mediator;
    private readonly DeviceRegistry _registry = new();
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly Akka.Cluster.Cluster _cluster = Akka.Cluster.Cluster.Get(Context.System);
    private PlacementPlan? _plan;
    private Rollout? _rollout;
    private long _planVersion;
    private PlacementMessages.RouteTable _routes = PlacementMessages.RouteTable.Empty;

    private sealed record Replan
    {
        public static Replan Instance { get; } = new();
    }

    private sealed record Resend
    {
        public static Resend Instance { get; } = new();
    }

    private sealed record GraceOver(NodeAddress Node);

    private sealed record RetryFailed
    {
        public static RetryFailed Instance { get; } = new();
    }

    public PlacementCoordinatorActor(ModelUnits model, PlacementSettings settings, IActorRef localUnitServer, IReadOnlyCollection<int> localUnits, IActorRef mediator)
    {
        _model = model;
        _settings = settings;
        _localUnitServer = localUnitServer;
        _localUnits = localUnits;
        _mediator = mediator;

        Receive<PlacementMessages.RegisterDevice>(OnRegister);
        Receive<PlacementMessages.UnitsLoaded>(OnLoaded);
        Receive<PlacementMessages.UnitsLoadFailed>(OnLoadFailed);
        Receive<PlacementMessages.StageLoad>(OnStageLoad);
        Receive<PlacementMessages.GetRoutes>(_ => Sender.Tell(_routes));
        Receive<StatusMessages.GetClusterStatus>(_ => Sender.Tell(ClusterStatusView.Build(_cluster.State, _registry, _plan, _routes, _settings.Redundancy, _model)));
        Receive<PlacementCoordinator.GetPlan>(_ => Sender.Tell(new PlacementCoordinator.PlanState(_plan, _planVersion, _rollout?.Complete ?? true, _routes.Version)));
        Receive<Replan>(_ => DoReplan());
        Receive<RetryFailed>(_ =>
        {
            foreach (var d in _registry.All.Where(d => d.FailedReason is not null))
            {
                _log.Info("placement: giving {0} another chance after: {1}", d.Descriptor.Label, d.FailedReason);
                d.FailedReason = null;
            }

            ScheduleReplan(TimeSpan.Zero);
        });
        Receive<Resend>(_ => ResendAssignments());
        Receive<Terminated>(t => OnWorkerGone(t.ActorRef));
        Receive<ClusterEvent.UnreachableMember>(m => OnReachability(NodeAddress.Of(m.Member.Address), reachable: false));
        Receive<ClusterEvent.ReachableMember>(m => OnReachability(NodeAddress.Of(m.Member.Address), reachable: true));
        Receive<ClusterEvent.MemberRemoved>(m => OnNodeRemoved(NodeAddress.Of(m.Member.Address)));
        Receive<GraceOver>(g =>
        {
            if (_registry.All.Any(d => d.Descriptor.Node == g.Node && !d.Reachable))
            {
                _log.Info("placement: {0} still unreachable after {1}; planning around it", g.Node, _settings.UnreachableGrace);
                ScheduleReplan(TimeSpan.Zero);
            }
        });
        Receive<ClusterEvent.IMemberEvent>(_ => { });
    }

    public ITimerScheduler Timers { get; set; } = null!;

    protected override void PreStart()
    {
        _cluster.Subscribe(Self, ClusterEvent.SubscriptionInitialStateMode.InitialStateAsEvents, typeof(ClusterEvent.IReachabilityEvent), typeof(ClusterEvent.MemberRemoved));
        Timers.StartPeriodicTimer("resend", Resend.Instance, _settings.ResendInterval);
        _log.Info("placement: coordinating model {0} ({1} units, redundancy {2})", _model.ModelId, _model.UnitCount, _settings.Redundancy);
    }

    protected override void PostStop() => _cluster.Unsubscribe(Self);

    private void OnRegister(PlacementMessages.RegisterDevice r)
    {
        if (r.ModelId != _model.ModelId)
        {
            Sender.Tell(new PlacementMessages.DeviceRegistered(r.Device.Key, false, $"this pool serves model {_model.ModelId}, the device's store holds {r.ModelId}"));
            return;
        }

        bool changed = _registry.Register(r);
        Context.Watch(r.Worker);
        Sender.Tell(new PlacementMessages.DeviceRegistered(r.Device.Key, true, ""));
        if (changed)
        {
            _log.Info("placement: {0} registered ({1:N0} bytes, speed {2:F0})", r.Device.Label, r.Device.MemoryBytes, r.Device.Speed);
            ScheduleReplan(_settings.Settle);
        }

        PublishRoutes();
    }

    private void OnLoaded(PlacementMessages.UnitsLoaded l)
    {
        var device = _registry.Find(l.DeviceKey);
        if (device is null)
        {
            return;
        }

        if (_rollout is { } current && current.Version != l.Version && current.Target(device.Key) != l.Range && (_rollout.Complete || current.Plan.AssignmentOf(device.Key) is null))
        {
            // A load an older plan asked for, finished after that plan was superseded: nothing routes there.
            device.Worker.Tell(new PlacementMessages.ReleaseUnits(current.Version, l.Range), Self);
            return;
        }

        device.Serving.Add(l.Range);
        if (_rollout is { } r && r.Version == l.Version && r.Loaded(device.Key, l.Range))
        {
            _log.Info("placement: {0} serves {1} (v{2}, {3} still loading)", device.Descriptor.Label, l.Range.Describe(_model.Layers), l.Version, r.Waiting.Count);
            if (r.Complete)
            {
                FinishRollout(r);
            }
        }

        PublishRoutes();
    }

    private void OnLoadFailed(PlacementMessages.UnitsLoadFailed f)
    {
        var device = _registry.Find(f.DeviceKey);
        if (device is null || _rollout?.Version != f.Version)
        {
            return;
        }

        _log.Warning("placement: {0} failed to load {1}: {2}", device.Descriptor.Label, f.Range, f.Reason);
        device.FailedReason = f.Reason;
        _rollout.Drop(device.Key);
        ScheduleReplan(TimeSpan.Zero);
        Timers.StartSingleTimer("retry-failed", RetryFailed.Instance, _settings.FailedCooldown);
    }

    private void OnStageLoad(PlacementMessages.StageLoad s)
    {
        var device = _registry.Find(s.DeviceKey);
        if (device is null)
        {
            // A coordinator that took over after a hand-over: ask the worker to register again.
            Sender.Tell(new PlacementMessages.DeviceRegistered(s.DeviceKey, false, "unknown device: register again"));
            return;
        }

        device.ActiveSessions = s.ActiveSessions;
        device.Queued = s.Queued;
        device.TokensPerSecond = s.TokensPerSecond;
    }

    private void OnWorkerGone(IActorRef worker)
    {
        var device = _registry.FindByWorker(worker);
        if (device is null)
        {
            return;
        }

        _log.Info("placement: {0} left", device.Descriptor.Label);
        _registry.Remove(device.Key);
        _rollout?.Drop(device.Key);
        PublishRoutes();
        ScheduleReplan(TimeSpan.Zero);
    }

    private void OnReachability(NodeAddress node, bool reachable)
    {
        if (_registry.SetReachable(node, reachable).Count == 0)
        {
            return;
        }

        _log.Info("placement: {0} is {1}", node, reachable ? "reachable again" : "unreachable");
        PublishRoutes();
        if (reachable)
        {
            ScheduleReplan(_settings.Settle);
        }
        else
        {
            Timers.StartSingleTimer("grace-" + node, new GraceOver(node), _settings.UnreachableGrace);
        }
    }

    private void OnNodeRemoved(NodeAddress node)
    {
        var keys = _registry.OnNode(node);
        foreach (var key in keys)
        {
            _registry.Remove(key);
            _rollout?.Drop(key);
        }

        if (keys.Count > 0)
        {
            PublishRoutes();
            ScheduleReplan(TimeSpan.Zero);
        }
    }

    private void ScheduleReplan(TimeSpan delay) => Timers.StartSingleTimer("replan", Replan.Instance, delay);

    private void DoReplan()
    {
        var devices = _registry.All.Where(d => d.Plannable).Select(d => d.PlanInput).ToList();
        var plan = Planner.Plan(devices, _model.Units, _settings.Redundancy, _plan, new PlannerOptions { MemoryHeadroom = _settings.MemoryHeadroom });
        // The same plan needs no new rollout only while every device still serves its range (one that restarted does not).
        if (plan.Equals(_plan) && (_rollout?.Complete ?? true)
            && plan.Assignments.All(a => _registry.Find(a.Device)?.Serving.Contains(a.Range) == true))
        {
            return;
        }

        _plan = plan;
        _planVersion++;
        var rollout = new Rollout(_planVersion, plan, DateTime.UtcNow);
        foreach (var a in plan.Assignments)
        {
            var device = _registry.Find(a.Device)!;
            if (!device.Serving.Contains(a.Range))
            {
                rollout.Expect(a.Device);
            }
        }

        _rollout = rollout;
        _log.Info("placement: plan v{0} ({1}): {2}", _planVersion, plan.Status, plan.Describe());
        foreach (var reason in plan.Reasons)
        {
            _log.Info("placement: {0}", reason);
        }

        ResendAssignments();
        if (rollout.Complete)
        {
            FinishRollout(rollout);
        }

        // The status changes as the rollout starts ("..., loading"): without this the table (and the cluster status)
        // kept saying "no plan yet", or the previous plan's status, until the first device reported its load.
        PublishRoutes();
    }

    private void ResendAssignments()
    {
        if (_rollout is not { Complete: false } r)
        {
            return;
        }

        if (DateTime.UtcNow - r.Started > _settings.LoadTimeout)
        {
            foreach (var key in r.Waiting.ToList())
            {
                var late = _registry.Find(key);
                if (late is not null)
                {
                    late.FailedReason = $"did not load its range within {_settings.LoadTimeout}";
                }

                r.Drop(key);
            }

            ScheduleReplan(TimeSpan.Zero);
            return;
        }

        foreach (var key in r.Waiting)
        {
            var device = _registry.Find(key);
            var range = r.Target(key);
            if (device is null || range is not UnitRange target)
            {
                continue;
            }

            var sources = Enumerable.Range(target.Start, target.Count)
                .Select(u => new PlacementMessages.UnitSource(u, [.. Holders(u)]))
                .ToArray();
            device.Worker.Tell(new PlacementMessages.AssignUnits(r.Version, target, sources), Self);
        }
    }

    private IEnumerable<IActorRef> Holders(int unit)
    {
        var holders = _registry.Holders(unit).ToList();
        if (_localUnits.Contains(unit) && !holders.Contains(_localUnitServer))
        {
            holders.Add(_localUnitServer);
        }

        return holders;
    }

    /// <summary>Every device of the plan serves its new range: release what the plan no longer uses.</summary>
    private void FinishRollout(Rollout r)
    {
        foreach (var device in _registry.All)
        {
            var keep = r.Target(device.Key);
            foreach (var range in device.Serving.Where(s => s != keep).ToList())
            {
                device.Worker.Tell(new PlacementMessages.ReleaseUnits(r.Version, range), Self);
                device.Serving.Remove(range);
            }
        }

        _log.Info("placement: plan v{0} in place", r.Version);
        PublishRoutes();
    }

    /// <summary>Publishes the ranges served now (only reachable devices), if the table changed.</summary>
    private void PublishRoutes()
    {
        var next = RouteTableBuilder.Next(_routes, _model.UnitCount, _registry.All.Select(d => d.RouteCandidate), _plan?.Status ?? PlacementStatus.NoPlan, _rollout is { Complete: false });
        if (!ReferenceEquals(next, _routes))
        {
            _routes = next;
            _mediator.Tell(new Publish(PlacementCoordinator.RoutesTopic, _routes));
        }
    }
}
