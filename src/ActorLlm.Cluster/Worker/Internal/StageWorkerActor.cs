using System.Diagnostics;
using ActorLlm.Inference.Checkpoints;
using ActorLlm.Inference.Devices;
using ActorLlm.Protocol;
using ActorLlm.Protocol.Messages;
using Akka.Actor;
using Akka.Cluster;
using Akka.Event;
using TorchSharp;

namespace ActorLlm.Cluster.Worker.Internal;

/// <summary>
/// See <see cref="StageWorker"/>. Runs on a pinned thread: all TorchSharp work except building executors (its
/// <see cref="RangeLoader"/> child does that on the thread pool) happens here. Three concerns, one group of
/// handlers each: serving steps, holding ranges, and its standing with the coordinator.
/// </summary>
internal sealed class StageWorkerActor : ReceiveActor, IWithTimers
{
    private readonly StageWorkerSettings _settings;
    private readonly UnitStore _store;
    private readonly IActorRef _coordinator;
    private readonly IActorRef _unitServer;
    private readonly DeviceDescriptor _device;
    private readonly IActorRef _loader;
    private readonly LoadedStages _stages = new();
    private readonly SessionHistories _histories = new();
    private readonly StepAdmission _admission = new();
    private readonly StepRunner _runner;
    private readonly LyingWorker _lie;
    private readonly List<StageMessages.Forward> _pending = [];
    private readonly List<StageMessages.Forward> _waitingForSlot = [];
    private readonly ReleasedSessions _released;
    private readonly SessionLeases _leases = new();

    // Sessions released for idleness (not ended): a later step of one that continues where its cache was is refused
    // as retryable, so a session that was alive after all replays elsewhere instead of failing its job.
    private readonly ReleasedSessions _expired;
    private readonly Akka.Cluster.Cluster _cluster;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly Stopwatch _sinceReport = Stopwatch.StartNew();
    private bool _registered;

    // Registration refusals in a row, and when the next registration may go: each refusal doubles the wait.
    private int _refusals;
    private DateTime _nextRegistration = DateTime.MinValue;
    private bool _flushScheduled;
    private double _tokensSinceReport;

    // One message type per timer: a record without fields equals every instance of its type, so one type per
    // timer is what keeps their handlers apart.
    private sealed record RegisterTick
    {
        public static RegisterTick Instance { get; } = new();
    }

    private sealed record ReportTick
    {
        public static ReportTick Instance { get; } = new();
    }

    private sealed record DrainCheckTick
    {
        public static DrainCheckTick Instance { get; } = new();
    }

    private sealed record Flush
    {
        public static Flush Instance { get; } = new();
    }

    public StageWorkerActor(StageWorkerSettings settings, UnitStore store, IActorRef coordinator, IActorRef unitServer)
    {
        _settings = settings;
        _store = store;
        _coordinator = coordinator;
        _unitServer = unitServer;
        _cluster = Akka.Cluster.Cluster.Get(Context.System);
        var node = NodeAddress.Of(_cluster.SelfAddress);
        _device = new DeviceDescriptor(node, settings.Device, settings.Machine, settings.Memory.Bytes, settings.Memory.Speed, settings.Target.DType.ToDType(),
            settings.Memory.PinnableBytes, settings.Memory.HostToDeviceBytesPerSecond, settings.Trust);
        _lie = new LyingWorker(settings.Lie);
        if (_lie.Active)
        {
            _log.Warning("FAULT INJECTION: {0} lies ({1}, relative size {2}, in {3:P0} of its steps): every job routed through it is corrupted unless verification catches it", _device.Label, settings.Lie.Mode, settings.Lie.RelativeSize, settings.Lie.Fraction);
        }

        _runner = new StepRunner(_device.Label, _device.Key, _histories, _lie);
        _released = new ReleasedSessions(settings.ReleasedSessionMemory);
        _expired = new ReleasedSessions(settings.ReleasedSessionMemory);
        _loader = Context.ActorOf(RangeLoader.Props(_device, settings, store, coordinator, unitServer), "loader");

        ServeSteps();
        HoldRanges();
        StandWithTheCoordinator();
        Receive<StageWorker.GetState>(_ => Sender.Tell(new StageWorker.State(_registered, _device.Key, [.. _stages.Serving], [.. _stages.Draining], _stages.ActiveSessions)));
        Receive<StageWorker.GetLiveTensors>(_ => Sender.Tell(new StageWorker.LiveTensors(
            DisposeScopeManager.Statistics.TensorStatistics.ThreadTotalLiveCount,
            Environment.CurrentManagedThreadId)));
    }

    public ITimerScheduler Timers { get; set; } = null!;

    protected override void PreStart()
    {
        Register();
        Timers.StartPeriodicTimer("register", RegisterTick.Instance, _settings.RegisterRetry);
        Timers.StartPeriodicTimer("report", ReportTick.Instance, _settings.LoadReportInterval);
        Timers.StartPeriodicTimer("drain-check", DrainCheckTick.Instance, _settings.DrainCheckInterval);
        _cluster.Subscribe(Self, ClusterEvent.SubscriptionInitialStateMode.InitialStateAsSnapshot, typeof(ClusterEvent.MemberRemoved));
    }

    protected override void PostStop()
    {
        _cluster.Unsubscribe(Self);
        _stages.Dispose();
        _lie.Dispose();
    }

    /// <summary>
    /// Steps from sessions and upstream stages are queued and run pass after pass: each pass plans every step waiting
    /// (<see cref="BatchPlan"/>), so a step that arrives while one pass runs joins the next.
    /// </summary>
    private void ServeSteps()
    {
        Receive<StageMessages.Forward>(f =>
        {
            if (!_admission.Admits(f, _stages.Find(f.Range)?.HasSession(f.Session)))
            {
                _log.Debug("{0}: dropped step {1} of session {2}: the session has moved on", _device.Label, f.Step, f.Session);
                return;
            }

            if (f.StartPosition > 0 && _expired.Contains(f.Session) && _stages.Find(f.Range)?.HasSession(f.Session) != true)
            {
                f.ReplyTo.Tell(new StageMessages.StageFailed(f.Session, f.Step, _device.Key, $"{_device.Label}: the session's cache was released after {_settings.SessionIdleTimeout.TotalSeconds:0.#} s without a step (worker.session-idle-timeout)", Retryable: true), Self);
                return;
            }

            if (!_released.Contains(f.Session))
            {
                _leases.Renew(f.Session, OwnerOf(f.ReplyTo), DateTime.UtcNow);
            }

            _pending.Add(f);
            ScheduleFlush();
        });
        Receive<Flush>(_ => RunPending());
        Receive<StageMessages.Supersede>(s =>
        {
            _admission.Supersede(s.Session, s.Step);
            _pending.RemoveAll(_admission.IsSuperseded);
            _waitingForSlot.RemoveAll(_admission.IsSuperseded);
        });
        Receive<StageMessages.ReleaseSession>(r => Release([r.Session], remember: true));

        // Sessions whose gateway is gone never release their stages: the worker does, when the node leaves the
        // cluster, and for any session idle past worker.session-idle-timeout (checked on the drain-check timer).
        Receive<ClusterEvent.MemberRemoved>(m =>
        {
            var orphans = _leases.OwnedBy(m.Member.Address);
            if (orphans.Count > 0)
            {
                _log.Warning("{0}: {1} left the cluster; releasing the {2} session(s) it was running here", _device.Label, m.Member.Address, orphans.Count);
                Release(orphans, remember: true);
            }
        });
        Receive<ClusterEvent.CurrentClusterState>(_ => { });
    }

    /// <summary>
    /// Frees the sessions' KV caches and everything kept for them. <paramref name="remember"/>: their steps still
    /// queued here, and any that arrive later, are dropped by the next passes' plans (a session that released its
    /// stages, or whose owner is gone). An idle session is not: should it still be alive, a step of it that needs the
    /// released cache is refused as retryable, and the session replays through a route as after any failure.
    /// </summary>
    private void Release(IReadOnlyList<SessionId> sessions, bool remember)
    {
        var now = DateTime.UtcNow;
        foreach (var session in sessions)
        {
            if (remember)
            {
                _released.Add(session, now);
            }
            else
            {
                _expired.Add(session, now);
            }

            _leases.Release(session);
            _stages.ReleaseSession(session);
            _histories.Release(session);
            _runner.Release(session);
            _admission.Release(session);
        }

        Collect();
        if (_waitingForSlot.Count > 0)
        {
            // A slot may be free: the sessions waiting for one go first.
            _pending.InsertRange(0, _waitingForSlot);
            _waitingForSlot.Clear();
            ScheduleFlush();
        }
    }

    /// <summary>The node a session lives on: its steps' reply-to's, this node's for a local one.</summary>
    private Address OwnerOf(IActorRef replyTo) => replyTo.Path.Address.HasLocalScope ? _cluster.SelfAddress : replyTo.Path.Address;

    private void ReleaseIdle()
    {
        var idle = _leases.IdleSince(DateTime.UtcNow - _settings.SessionIdleTimeout);
        if (idle.Count > 0)
        {
            _log.Warning("{0}: releasing {1} session(s) with no step for {2:0.#} s (worker.session-idle-timeout)", _device.Label, idle.Count, _settings.SessionIdleTimeout.TotalSeconds);
            Release(idle, remember: false);
        }
    }

    /// <summary>
    /// Assignments go to the loader, which hands back loaded executors; released ranges drain until their sessions
    /// end or the drain timeout passes.
    /// </summary>
    private void HoldRanges()
    {
        Receive<PlacementMessages.AssignUnits>(a => _loader.Tell(new RangeLoader.Assign(a, Sender, Served: _stages.Serves(a.Range) || _stages.Undrain(a.Range))));
        Receive<RangeLoader.Loaded>(l =>
        {
            _stages.Add(l.Executor);
            Sender.Tell(new RangeLoader.Adopted(l.Executor.Range));
        });
        Receive<PlacementMessages.ReleaseUnits>(r =>
        {
            _log.Info("{0}: releasing {1} once its sessions end", _device.Label, r.Range);
            _stages.Drain(r.Range, DateTime.UtcNow);
            Collect();
        });
        Receive<DrainCheckTick>(_ =>
        {
            Collect();
            ReleaseIdle();
        });
    }

    /// <summary>
    /// The worker registers until the coordinator accepts it, and again when the coordinator says it does not know it
    /// (a refusal, or the answer to a load report); load reports go out on their timer.
    /// </summary>
    private void StandWithTheCoordinator()
    {
        Receive<PlacementMessages.DeviceRegistered>(r =>
        {
            _registered = r.Accepted;
            if (r.Accepted)
            {
                _refusals = 0;
                _log.Info("{0}: registered ({1:N0} bytes, {2:F0} layer-forwards/s)", _device.Label, _device.MemoryBytes, _device.Speed);
                return;
            }

            // A final refusal (this store holds another model than the pool's) cannot change: said once, and the node
            // shuts down with a non-zero exit code rather than stay up holding nothing anybody can use.
            if (r.Final)
            {
                _log.Error("{0}: the pool refused this worker: {1}; shutting the node down (give it the pool's model, or none to pull it from peers)", _device.Label, r.Reason);
                Become(() => { });
                _ = CoordinatedShutdown.Get(Context.System).Run(RefusedByPool.Instance);
                return;
            }

            // Any other refusal (a coordinator that does not know the device yet) is answered by registering again
            // after register-retry, doubled with each refusal in a row up to register-backoff-max, with one line per
            // refusal, so a worker neither floods its log nor gives up on a coordinator that is still starting.
            var wait = TimeSpan.FromTicks(Math.Min(_settings.RegisterBackoffMax.Ticks, _settings.RegisterRetry.Ticks << Math.Min(_refusals, 30)));
            _refusals++;
            _nextRegistration = DateTime.UtcNow + wait;
            _log.Warning("{0}: the coordinator refused the registration (refusal {1} in a row): {2}; registering again in {3:0.#} s", _device.Label, _refusals, r.Reason, wait.TotalSeconds);
        });
        Receive<RegisterTick>(_ =>
        {
            if (!_registered && DateTime.UtcNow >= _nextRegistration)
            {
                Register();
            }
        });
        Receive<ReportTick>(_ =>
        {
            // Unregistered, a load report would only be refused again.
            if (_registered)
            {
                Report();
            }
        });
    }

    private void Register() => _coordinator.Tell(
        new PlacementMessages.RegisterDevice(_device, Self, _unitServer, [.. _store.PresentUnits()], _settings.ModelId, [.. _stages.Serving]),
        Self);

    private void Report()
    {
        double seconds = _sinceReport.Elapsed.TotalSeconds;
        _coordinator.Tell(new PlacementMessages.StageLoad(_device.Key, _stages.ActiveSessions, _pending.Count + _waitingForSlot.Count, seconds > 0 ? _tokensSinceReport / seconds : 0), Self);
        _tokensSinceReport = 0;
        _sinceReport.Restart();
    }

    /// <summary>Requests that arrive while the flush waits in the mailbox join its batch.</summary>
    private void ScheduleFlush()
    {
        if (!_flushScheduled)
        {
            _flushScheduled = true;
            Self.Tell(Flush.Instance);
        }
    }

    private void RunPending()
    {
        _flushScheduled = false;
        var pass = BatchPlan.Plan(_pending, Describe, _stages.FreeSlots(), _settings.Batching);
        _pending.Clear();
        if (pass.Dropped.Count > 0)
        {
            _log.Debug("{0}: dropped {1} step(s) of released sessions", _device.Label, pass.Dropped.Count);
        }

        foreach (var f in pass.Refused)
        {
            f.ReplyTo.Tell(new StageMessages.StageFailed(f.Session, f.Step, _device.Key, $"{_device.Label} does not serve {f.Range}", Retryable: true), Self);
        }

        _waitingForSlot.AddRange(pass.WaitingForSlot);
        foreach (var batch in pass.Batches)
        {
            foreach (var o in _runner.Run(_stages.Find(batch.Range)!, batch.Steps))
            {
                o.To.Tell(o.Message, Self);
            }

            _tokensSinceReport += batch.Steps.Sum(f => f.TokenIds.Length);
        }

        // Steps arriving during this pass are still in the mailbox, so the deferred ones keep their place ahead of them.
        _pending.AddRange(pass.Deferred);
        if (_pending.Count > 0)
        {
            ScheduleFlush();
        }
    }

    private QueuedStep Describe(StageMessages.Forward f) => new(
        f.Session,
        f.Range,
        f.TokenIds.Length,
        _stages.Find(f.Range)?.HasSession(f.Session) ?? false,
        _waitingForSlot.Exists(w => w.Session == f.Session && w.Range == f.Range),
        _released.Contains(f.Session));

    private void Collect()
    {
        foreach (var r in _stages.Collect(DateTime.UtcNow, _settings.DrainTimeout))
        {
            _log.Info("{0}: released {1}", _device.Label, r);
        }
    }
}
