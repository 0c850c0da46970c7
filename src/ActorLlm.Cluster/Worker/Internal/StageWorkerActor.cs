using System.Diagnostics;
using ActorLlm.Cluster.Weights;
using ActorLlm.Inference.Checkpoints;
using ActorLlm.Inference.Devices;
using ActorLlm.Inference.Execution;
using ActorLlm.Protocol;
using ActorLlm.Protocol.Messages;
using Akka.Actor;
using Akka.Event;

namespace ActorLlm.Cluster.Worker.Internal;

/// <summary>See <see cref="StageWorker"/>. Runs on a pinned thread: all TorchSharp work except weight loading happens here.</summary>
internal sealed class StageWorkerActor : ReceiveActor, IWithTimers
{
    private readonly StageWorkerSettings _settings;
    private readonly UnitStore _store;
    private readonly IActorRef _coordinator;
    private readonly IActorRef _unitServer;
    private readonly DeviceDescriptor _device;
    private readonly LoadedStages _stages = new();
    private readonly SessionHistories _histories = new();
    private readonly StepRunner _runner;
    private readonly List<StageMessages.Forward> _pending = [];
    private readonly List<StageMessages.Forward> _waitingForSlot = [];
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private bool _registered;
    private bool _flushScheduled;
    private double _tokensSinceReport;
    private readonly Stopwatch _sinceReport = Stopwatch.StartNew();

    // The assignment being worked on: the latest one the coordinator sent that is not loaded yet.
    private Assignment? _target;
    private UnitRange? _loading;
    private readonly Dictionary<int, IActorRef> _fetchers = [];

    private sealed record Assignment(long Version, UnitRange Range, PlacementMessages.UnitSource[] Sources);

    private sealed record Loaded(UnitRange Range, StageExecutor Executor, double Seconds);

    private sealed record LoadFailed(UnitRange Range, string Reason);

    // The name makes the three ticks unequal: a record without fields equals every other instance of its type, so
    // `t == Tick.Register` matched the report and collect ticks too, and load reports and drain collection never ran.
    private sealed record Tick(string Name)
    {
        public static Tick Register { get; } = new("register");

        public static Tick Report { get; } = new("report");

        public static Tick Collect { get; } = new("collect");
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
        var node = NodeAddress.Of(Akka.Cluster.Cluster.Get(Context.System).SelfAddress);
        _device = new DeviceDescriptor(node, settings.Device, settings.Machine, settings.Memory.Bytes, settings.Memory.Speed, settings.Target.DType.ToDType());
        _runner = new StepRunner(_device.Label, _device.Key, _histories);

        Receive<StageMessages.Forward>(f =>
        {
            _pending.Add(f);
            ScheduleFlush();
        });
        Receive<Flush>(_ => RunPending());
        Receive<StageMessages.ReleaseSession>(r =>
        {
            _stages.ReleaseSession(r.Session);
            _histories.Release(r.Session);
            _waitingForSlot.RemoveAll(f => f.Session == r.Session);
            Collect();
            if (_waitingForSlot.Count > 0)
            {
                // A slot is free: the sessions waiting for one go first.
                _pending.InsertRange(0, _waitingForSlot);
                _waitingForSlot.Clear();
                ScheduleFlush();
            }
        });
        Receive<PlacementMessages.AssignUnits>(Assign);
        Receive<PlacementMessages.ReleaseUnits>(r =>
        {
            _log.Info("{0}: releasing {1} once its sessions end", _device.Label, r.Range);
            _stages.Drain(r.Range, DateTime.UtcNow);
            Collect();
        });
        Receive<UnitFetcher.Fetched>(f =>
        {
            _log.Info("{0}: pulled unit {1} ({2:N0} bytes) from {3} in {4:F1} s", _device.Label, f.Unit, f.Bytes, f.From, f.Elapsed.TotalSeconds);
            _fetchers.Remove(f.Unit);
            if (_fetchers.Count == 0 && _loading is UnitRange range)
            {
                LoadExecutor(range);
            }
        });
        Receive<UnitFetcher.Failed>(f =>
        {
            // Only a fetcher of the load under way counts: one stopped with an earlier load may have answered already.
            if (_fetchers.TryGetValue(f.Unit, out var fetcher) && fetcher.Equals(Sender))
            {
                FailLoad($"could not pull unit {f.Unit}: {f.Reason}");
            }
        });
        Receive<Loaded>(OnLoaded);
        Receive<LoadFailed>(f => FailLoad(f.Reason));
        Receive<PlacementMessages.DeviceRegistered>(r =>
        {
            _registered = r.Accepted;
            if (r.Accepted)
            {
                _log.Info("{0}: registered ({1:N0} bytes, {2:F0} layer-forwards/s)", _device.Label, _device.MemoryBytes, _device.Speed);
            }
            else
            {
                _log.Warning("{0}: coordinator did not accept the registration: {1}", _device.Label, r.Reason);
            }
        });
        Receive<Tick>(t => t == Tick.Register, _ =>
        {
            if (!_registered)
            {
                Register();
            }
        });
        Receive<Tick>(t => t == Tick.Report, _ => Report());
        Receive<Tick>(t => t == Tick.Collect, _ => Collect());
        Receive<StageWorker.GetState>(_ => Sender.Tell(new StageWorker.State(_registered, _device.Key, [.. _stages.Serving], [.. _stages.Draining], _stages.ActiveSessions)));
    }

    public ITimerScheduler Timers { get; set; } = null!;

    protected override void PreStart()
    {
        Register();
        Timers.StartPeriodicTimer("register", Tick.Register, _settings.RegisterRetry);
        Timers.StartPeriodicTimer("report", Tick.Report, _settings.LoadReportInterval);
        Timers.StartPeriodicTimer("collect", Tick.Collect, _settings.DrainCheckInterval);
    }

    protected override void PostStop() => _stages.Dispose();

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
        var pass = BatchPlan.Plan(_pending, Describe, _stages.FreeSlots());
        _pending.Clear();
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

        _pending.AddRange(pass.Deferred);
        if (_pending.Count > 0)
        {
            ScheduleFlush();
        }
    }

    private QueuedStep Describe(StageMessages.Forward f) =>
        new(f.Session, f.Range, f.TokenIds.Length, _stages.Find(f.Range)?.HasSession(f.Session) ?? false);

    private void Assign(PlacementMessages.AssignUnits a)
    {
        if (_stages.Serves(a.Range) || _stages.Undrain(a.Range))
        {
            _target = null;
            Sender.Tell(new PlacementMessages.UnitsLoaded(_device.Key, a.Version, a.Range, 0), Self);
            return;
        }

        bool busy = _loading is not null;
        _target = new Assignment(a.Version, a.Range, a.Sources);
        if (!busy)
        {
            StartLoad(_target);
        }
    }

    private void StartLoad(Assignment a)
    {
        _loading = a.Range;
        var missing = Enumerable.Range(a.Range.Start, a.Range.Count).Where(u => !_store.HasUnit(u)).ToList();
        foreach (int unit in missing)
        {
            var holders = a.Sources.Where(s => s.Unit == unit).SelectMany(s => s.Holders).Where(h => !h.Equals(_unitServer)).ToList();
            if (holders.Count == 0)
            {
                FailLoad($"unit {unit} is not in the local store and no peer holds it");
                return;
            }

            _fetchers[unit] = Context.ActorOf(UnitFetcher.Props(_store, unit, holders, Self, null), $"fetch-{unit}-{a.Version}");
        }

        if (_fetchers.Count == 0)
        {
            LoadExecutor(a.Range);
        }
        else
        {
            _log.Info("{0}: pulling units {1} for {2} from peers", _device.Label, string.Join(", ", missing), a.Range);
        }
    }

    private void LoadExecutor(UnitRange range)
    {
        var clock = Stopwatch.StartNew();
        var self = Self;
        // Loading reads and copies weights for seconds on big models; a task keeps this stage serving meanwhile.
        Task.Run(() => StageExecutor.Load(_store, range, _settings.Target, _settings.Cache))
            .PipeTo(self, success: e => new Loaded(range, e, clock.Elapsed.TotalSeconds), failure: e => new LoadFailed(range, e.GetBaseException().Message));
    }

    private void OnLoaded(Loaded l)
    {
        _loading = null;
        if (_target is { } t && t.Range == l.Range)
        {
            _stages.Add(l.Executor);
            _target = null;
            _log.Info("{0}: loaded {1} in {2:F2} s", _device.Label, l.Range, l.Seconds);
            _coordinator.Tell(new PlacementMessages.UnitsLoaded(_device.Key, t.Version, l.Range, l.Seconds), Self);
            return;
        }

        // The assignment changed while this range loaded.
        l.Executor.Dispose();
        if (_target is not null)
        {
            StartLoad(_target);
        }
    }

    private void FailLoad(string reason)
    {
        foreach (var f in _fetchers.Values)
        {
            Context.Stop(f);
        }

        _fetchers.Clear();
        var range = _loading;
        _loading = null;
        if (_target is { } next && range is UnitRange failed && next.Range != failed)
        {
            // Another range was assigned while this one loaded: the failure is not the new range's (reporting it as such
            // sat the device out of every plan until it registered again); load the new one.
            _log.Warning("{0}: could not load {1} ({2}); loading {3}, assigned since", _device.Label, failed, reason, next.Range);
            StartLoad(next);
            return;
        }

        if (_target is { } t)
        {
            _log.Warning("{0}: could not load {1}: {2}", _device.Label, t.Range, reason);
            _coordinator.Tell(new PlacementMessages.UnitsLoadFailed(_device.Key, t.Version, t.Range, reason), Self);
            _target = null;
        }
        else if (range is not null)
        {
            _log.Warning("{0}: could not load {1}: {2}", _device.Label, range, reason);
        }
    }

    private void Collect()
    {
        foreach (var r in _stages.Collect(DateTime.UtcNow, _settings.DrainTimeout))
        {
            _log.Info("{0}: released {1}", _device.Label, r);
        }
    }
}
