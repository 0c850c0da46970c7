using ActorLlm.Cluster.Hosting;
using ActorLlm.Protocol;
using ActorLlm.Protocol.Messages;
using Akka.Actor;
using Akka.Cluster;
using Akka.Cluster.Tools.PublishSubscribe;
using Akka.Event;

namespace ActorLlm.Cluster.Placement.Internal;

/// <summary>
/// See <see cref="PlacementCoordinator"/>. Keeps the registry of devices; the decisions are pure functions it carries
/// out: <see cref="Planner"/> (what to serve where), <see cref="Rollout"/> (make-before-break, as commands) and
/// <see cref="RouteTableBuilder"/> (what to publish).
/// </summary>
internal sealed class PlacementCoordinatorActor : ReceiveActor, IWithTimers
{
    private readonly ModelUnits _model;
    private readonly UnitTable _unitTable;
    private readonly PlacementSettings _settings;
    private readonly IActorRef _localUnitServer;
    private readonly IReadOnlyCollection<int> _localUnits;
    private readonly IActorRef _mediator;
    private readonly DeviceRegistry _registry = new();
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly Akka.Cluster.Cluster _cluster = Akka.Cluster.Cluster.Get(Context.System);
    private RolloutState _rollout = RolloutState.Initial;
    private PlacementMessages.RouteTable _routes;

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

    private readonly Func<NodeAddress, DeviceTrust?> _certifiedTrust;

    // Devices verification caught lying, with the evidence: kept when they leave, so coming back changes nothing.
    private readonly Dictionary<DeviceKey, string> _quarantined = [];

    public PlacementCoordinatorActor(ModelUnits model, PlacementSettings settings, IActorRef localUnitServer, IReadOnlyCollection<int> localUnits, IActorRef mediator,
        Func<NodeAddress, DeviceTrust?>? certifiedTrust = null)
    {
        _model = model;
        _certifiedTrust = certifiedTrust ?? (_ => null);
        _unitTable = new UnitTable(model.Units);
        _settings = settings;
        _localUnitServer = localUnitServer;
        _localUnits = localUnits;
        _mediator = mediator;

        // This incarnation's tables come after every table of the coordinators before it (they start again at
        // version 1), so route caches on every gateway take them.
        _routes = PlacementMessages.RouteTable.Empty with { Epoch = PlacementEpoch.Next() };

        Receive<PlacementMessages.RegisterDevice>(OnRegister);
        Receive<PlacementMessages.UnitsLoaded>(l =>
        {
            if (_registry.Find(l.DeviceKey) is not null)
            {
                Apply(new RolloutEvent.UnitsLoaded(l.DeviceKey, l.Version, l.Range));
            }
        });
        Receive<PlacementMessages.UnitsLoadFailed>(f =>
        {
            if (_registry.Find(f.DeviceKey) is not null)
            {
                Apply(new RolloutEvent.UnitsLoadFailed(f.DeviceKey, f.Version, f.Range, f.Reason));
            }
        });
        Receive<PlacementMessages.StageLoad>(OnStageLoad);
        Receive<PlacementMessages.GetRoutes>(_ => Sender.Tell(_routes));
        Receive<PlacementMessages.Quarantine>(OnQuarantine);
        Receive<StatusMessages.GetClusterStatus>(_ => Sender.Tell(ClusterStatusView.Build(_cluster.State, _registry, _rollout.Plan, _routes, _settings.Redundancy, _model, StreamedLayers)));
        Receive<PlacementCoordinator.GetPlan>(_ => Sender.Tell(new PlacementCoordinator.PlanState(_rollout.Plan, _rollout.Version, !_rollout.IsLoading, _routes.Version)));
        Receive<Replan>(_ => DoReplan());
        Receive<Resend>(_ => Apply(new RolloutEvent.ResendDue(DateTime.UtcNow, _settings.LoadTimeout)));
        Receive<RetryFailed>(_ =>
        {
            foreach (var d in _registry.All.Where(d => d.FailedReason is not null))
            {
                _log.Info("placement: giving {0} another chance after: {1}", d.Descriptor.Label, d.FailedReason);
                d.FailedReason = null;
            }

            ScheduleReplan(TimeSpan.Zero);
        });
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
        _log.Info("placement: coordinating model {0} ({1} units, redundancy {2}, route epoch {3})", _model.ModelId, _model.UnitCount, _settings.Redundancy, _routes.Epoch);
    }

    protected override void PostStop() => _cluster.Unsubscribe(Self);

    private void OnRegister(PlacementMessages.RegisterDevice r)
    {
        if (r.ModelId != _model.ModelId)
        {
            Sender.Tell(new PlacementMessages.DeviceRegistered(r.Device.Key, false, $"this pool serves model {_model.ModelId}, the device's store holds {r.ModelId}", Final: true));
            return;
        }

        var trust = PlacementCoordinator.EffectiveTrust(r.Device.Trust, _certifiedTrust(r.Device.Node));
        if (trust != r.Device.Trust)
        {
            r = r with { Device = r.Device with { Trust = trust } };
        }

        // A volunteer's claims are bounded once its trust is settled (a certificate may have just made it one).
        var capped = Claims.Capped(r.Device, _settings.Claims);
        if (capped != r.Device)
        {
            // Logged once: a worker registering again with the same claims finds the capped descriptor unchanged.
            if (_registry.Find(r.Device.Key)?.Descriptor != capped)
            {
                foreach (string change in Claims.Changes(r.Device, capped))
                {
                    _log.Warning("placement: {0} {1} (volunteer)", r.Device.Label, change);
                }
            }

            r = r with { Device = capped };
        }

        bool changed = _registry.Register(r);
        if (_quarantined.TryGetValue(r.Device.Key, out var why) && _registry.Find(r.Device.Key) is { } again)
        {
            // Registering again (a restart on the same address) does not lift a quarantine.
            again.Quarantined = why;
        }

        Context.Watch(r.Worker);
        Sender.Tell(new PlacementMessages.DeviceRegistered(r.Device.Key, true, ""));
        if (changed)
        {
            _log.Info("placement: {0} registered ({1:N0} bytes, speed {2:F0}, {3})", r.Device.Label, r.Device.MemoryBytes, r.Device.Speed, r.Device.Trust.ToString().ToLowerInvariant());
            ScheduleReplan(_settings.Settle);
        }

        PublishRoutes();
    }

    /// <summary>
    /// A session's verification caught a device lying: it gets no work from now on (no plan, no route). Obeyed from
    /// this node and from gateways whose certificate is not a volunteer's (a volunteer must not quarantine others).
    /// </summary>
    private void OnQuarantine(PlacementMessages.Quarantine q)
    {
        var from = Sender.Path.Address;
        bool local = from.HasLocalScope || from == _cluster.SelfAddress;
        var member = _cluster.State.Members.FirstOrDefault(m => m.Address == from);
        if (!local && (member is null || !member.HasRole(ActorLlmRoles.Gateway) || _certifiedTrust(NodeAddress.Of(from)) == DeviceTrust.Volunteer))
        {
            _log.Warning("placement: ignored a quarantine of {0} from {1}: only trusted gateways may quarantine", q.Device, from);
            return;
        }

        if (!_quarantined.TryAdd(q.Device, q.Reason))
        {
            return;
        }

        _log.Warning("placement: {0} QUARANTINED: {1}", Label(q.Device), q.Reason);
        if (_registry.Find(q.Device) is { } device)
        {
            device.Quarantined = q.Reason;
        }

        PublishRoutes();
        ScheduleReplan(TimeSpan.Zero);
    }

    private void OnStageLoad(PlacementMessages.StageLoad s)
    {
        var device = _registry.Find(s.DeviceKey);
        if (device is null)
        {
            // The device is unknown to this coordinator (e.g. one that took over after a hand-over): the refusal makes
            // the worker register again.
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
        Apply(new RolloutEvent.DevicesLeft([device.Key]));
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
        }

        Apply(new RolloutEvent.DevicesLeft(keys));
    }

    /// <summary>
    /// Layers of <paramref name="range"/> the device streams: what the plan decided, from the same memory budget (a
    /// range that fits the device's resident capacity streams nothing).
    /// </summary>
    private int StreamedLayers(RegisteredDevice device, UnitRange range) =>
        device.PlanInput.CanStream
            ? StreamingCost.StreamedLayers(_unitTable, range, (long)Math.Floor(device.Descriptor.MemoryBytes * _settings.MemoryHeadroom))
            : 0;

    private void ScheduleReplan(TimeSpan delay) => Timers.StartSingleTimer("replan", Replan.Instance, delay);

    private void DoReplan()
    {
        var devices = _registry.All.Where(d => d.Plannable).Select(d => d.PlanInput).ToList();
        var plan = Planner.Plan(devices, _model.Units, _settings.Redundancy, _rollout.Plan, new PlannerOptions { MemoryHeadroom = _settings.MemoryHeadroom });
        Apply(new RolloutEvent.PlanMade(plan, DateTime.UtcNow));
    }

    /// <summary>Takes the rollout's step for <paramref name="e"/> and carries out its commands, in order.</summary>
    private void Apply(RolloutEvent e)
    {
        var step = Rollout.Apply(_rollout, e, _registry.Serving());
        _rollout = step.State;
        foreach (var command in step.Commands)
        {
            Carry(command);
        }
    }

    private void Carry(RolloutCommand command)
    {
        switch (command)
        {
            case RolloutCommand.Assign a when _registry.Find(a.Device) is { } device:
                device.Worker.Tell(new PlacementMessages.AssignUnits(a.Version, a.Range, _registry.Sources(a.Range, _localUnitServer, _localUnits), StreamedLayers(device, a.Range)), Self);
                break;
            case RolloutCommand.Release r when _registry.Find(r.Device) is { } device:
                device.Worker.Tell(new PlacementMessages.ReleaseUnits(r.Version, r.Range), Self);
                break;
            case RolloutCommand.Serve s:
                _registry.Find(s.Device)?.Serving.Add(s.Range);
                break;
            case RolloutCommand.StopServing s:
                _registry.Find(s.Device)?.Serving.Remove(s.Range);
                break;
            case RolloutCommand.MarkFailed f when _registry.Find(f.Device) is { } device:
                device.FailedReason = f.Reason;
                break;
            case RolloutCommand.ReplanNow:
                ScheduleReplan(TimeSpan.Zero);
                break;
            case RolloutCommand.StartFailedCooldown:
                Timers.StartSingleTimer("retry-failed", RetryFailed.Instance, _settings.FailedCooldown);
                break;
            case RolloutCommand.PublishRoutes:
                PublishRoutes();
                break;
            case RolloutCommand.ReportPlan p:
                _log.Info("placement: plan v{0} ({1}): {2}", p.Version, p.Plan.Status, p.Plan.Describe());
                foreach (var reason in p.Plan.Reasons)
                {
                    _log.Info("placement: {0}", reason);
                }

                break;
            case RolloutCommand.ReportLoaded l:
                _log.Info("placement: {0} serves {1} (v{2}, {3} still loading)", Label(l.Device), l.Range.Describe(_model.Layers), l.Version, l.StillLoading);
                break;
            case RolloutCommand.ReportLoadFailed f:
                _log.Warning("placement: {0} failed to load {1}: {2}", Label(f.Device), f.Range, f.Reason);
                break;
            case RolloutCommand.ReportInPlace p:
                _log.Info("placement: plan v{0} in place", p.Version);
                break;
        }
    }

    private string Label(DeviceKey device) => _registry.Find(device)?.Descriptor.Label ?? device.ToString();

    /// <summary>Publishes the ranges served now (only reachable devices), if the table changed.</summary>
    private void PublishRoutes()
    {
        var next = RouteTableBuilder.Next(_routes, _model.UnitCount, _registry.All.Where(d => d.Quarantined is null).Select(d => d.RouteCandidate(range => StreamedLayers(d, range))), _rollout.Status, _rollout.IsLoading);
        if (!ReferenceEquals(next, _routes))
        {
            _routes = next;
            _mediator.Tell(new Publish(PlacementCoordinator.RoutesTopic, _routes));
        }
    }
}
