using System.Diagnostics;
using ActorLlm.Cluster.Weights;
using ActorLlm.Inference.Checkpoints;
using ActorLlm.Inference.Execution;
using ActorLlm.Protocol;
using ActorLlm.Protocol.Messages;
using Akka.Actor;
using Akka.Event;

namespace ActorLlm.Cluster.Worker.Internal;

/// <summary>
/// See <see cref="RangeLoader"/>. Three behaviours: idle, pulling the missing units of a range, building its
/// executor. Runs on the default dispatcher; the executor is built on the thread pool.
/// </summary>
internal sealed class RangeLoaderActor : ReceiveActor
{
    private readonly DeviceDescriptor _device;
    private readonly StageWorkerSettings _settings;
    private readonly UnitStore _store;
    private readonly IActorRef _coordinator;
    private readonly IActorRef _ownUnitServer;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly Dictionary<int, IActorRef> _fetchers = [];

    // Handed to the worker and not adopted yet: served, as far as an assignment is concerned.
    private readonly List<UnitRange> _handedOver = [];

    // The latest assignment not yet loaded: the range loading now, or the one to load when it ends.
    private Target? _target;
    private long _loads;

    /// <param name="Repulled">Units of this target were found corrupt, removed and pulled again once already.</param>
    private sealed record Target(long Version, UnitRange Range, PlacementMessages.UnitSource[] Sources, bool Repulled = false, int StreamedLayers = 0);

    private sealed record Built(UnitRange Range, StageExecutor Executor, double Seconds);

    /// <summary>Units of <paramref name="Range"/> whose files failed their check against the manifest, and were removed.</summary>
    private sealed record Corrupt(UnitRange Range, IReadOnlyList<(int Unit, string Problem)> Units);

    private sealed record BuildFailed(UnitRange Range, string Reason);

    public RangeLoaderActor(DeviceDescriptor device, StageWorkerSettings settings, UnitStore store, IActorRef coordinator, IActorRef ownUnitServer)
    {
        _device = device;
        _settings = settings;
        _store = store;
        _coordinator = coordinator;
        _ownUnitServer = ownUnitServer;
        Idle();
    }

    private void Idle()
    {
        Receive<RangeLoader.Assign>(a => Assign(a, idle: true));
        Always();
    }

    private void Pulling(UnitRange range)
    {
        Receive<RangeLoader.Assign>(a => Assign(a, idle: false));

        // Only the fetchers of this load count: one stopped with an earlier load may have answered already.
        Receive<UnitFetcher.Fetched>(f => IsCurrent(f.Unit), f =>
        {
            _log.Info("{0}: pulled unit {1} ({2:N0} bytes) from {3} in {4:F1} s", _device.Label, f.Unit, f.Bytes, f.From, f.Elapsed.TotalSeconds);
            _fetchers.Remove(f.Unit);
            if (_fetchers.Count == 0)
            {
                Build(range);
            }
        });
        Receive<UnitFetcher.Failed>(f => IsCurrent(f.Unit), f => Fail(range, $"could not pull unit {f.Unit}: {f.Reason}"));
        Always();
    }

    private void Building(UnitRange range)
    {
        Receive<RangeLoader.Assign>(a => Assign(a, idle: false));
        Receive<Built>(b => b.Range == range, OnBuilt);
        Receive<Corrupt>(c => c.Range == range, OnCorrupt);
        Receive<BuildFailed>(f => f.Range == range, f => Fail(range, f.Reason));
        Always();
    }

    /// <summary>Handlers of every behaviour, registered last so that a behaviour's own come first.</summary>
    private void Always()
    {
        Receive<RangeLoader.Adopted>(a => _handedOver.Remove(a.Range));

        // Answers of fetchers stopped with an abandoned load.
        Receive<UnitFetcher.Fetched>(_ => { });
        Receive<UnitFetcher.Failed>(_ => { });

        // Only the build under way can finish, but an executor nobody waits for must still be freed.
        Receive<Built>(b => b.Executor.Dispose());
        Receive<Corrupt>(_ => { });
    }

    private bool IsCurrent(int unit) => _fetchers.TryGetValue(unit, out var fetcher) && fetcher.Equals(Sender);

    private void Assign(RangeLoader.Assign a, bool idle)
    {
        var (version, range, sources) = (a.Assignment.Version, a.Assignment.Range, a.Assignment.Sources);
        if (a.Served || _handedOver.Contains(range))
        {
            _target = null;
            a.ReplyTo.Tell(new PlacementMessages.UnitsLoaded(_device.Key, version, range, 0), Context.Parent);
            return;
        }

        _target = new Target(version, range, sources, StreamedLayers: a.Assignment.StreamedLayers);
        if (idle)
        {
            StartLoad(_target);
        }
    }

    private void StartLoad(Target t)
    {
        long load = ++_loads;
        var missing = Enumerable.Range(t.Range.Start, t.Range.Count).Where(u => !_store.HasUnit(u)).ToList();
        foreach (int unit in missing)
        {
            var holders = t.Sources.Where(s => s.Unit == unit).SelectMany(s => s.Holders).Where(h => !h.Equals(_ownUnitServer)).ToList();
            if (holders.Count == 0)
            {
                Fail(t.Range, $"unit {unit} is not in the local store and no peer holds it");
                return;
            }

            _fetchers[unit] = Context.ActorOf(UnitFetcher.Props(_store, unit, holders, Self, _settings.Fetch), $"fetch-{unit}-{load}");
        }

        if (_fetchers.Count == 0)
        {
            Build(t.Range);
            return;
        }

        _log.Info("{0}: pulling units {1} for {2} from peers", _device.Label, string.Join(", ", missing), t.Range);
        Become(() => Pulling(t.Range));
    }

    private void Build(UnitRange range)
    {
        var clock = Stopwatch.StartNew();
        var (store, target, cache, graphs) = (_store, _settings.Target, _settings.Cache, _settings.CudaGraphs);
        var (log, label, progressInterval) = (_log, _device.Label, _settings.Fetch.ProgressInterval);
        var streaming = new LayerStreaming(_target is { } t && t.Range == range ? t.StreamedLayers : 0);

        // Reading and copying weights takes seconds on big models: on the thread pool, it holds up neither this
        // actor nor the worker. The executor's tensors belong to no dispose scope, so any thread may build them.
        // A build still running when this actor stops ends with the process (the node is shutting down).
        // Every unit is checked against the manifest's sha256 first (once per file and process: the store remembers
        // the files it found good), so a file damaged on disk is never served; it is removed and pulled again.
        Task.Run(object () =>
            {
                var corrupt = new List<(int, string)>();
                foreach (int unit in Enumerable.Range(range.Start, range.Count))
                {
                    if (store.Verify(unit) is { } problem)
                    {
                        store.RemoveUnit(unit);
                        corrupt.Add((unit, problem));
                    }
                }

                if (corrupt.Count > 0)
                {
                    return new Corrupt(range, corrupt);
                }

                // Gigabytes take a while: a line every progress interval (bytes, rate, time left) until loaded.
                var loading = Stopwatch.StartNew();
                var throttle = new ProgressThrottle(progressInterval);
                var executor = StageExecutor.Load(store, range, target, cache, graphs, streaming, (done, total) =>
                {
                    if (throttle.Due(loading.Elapsed) && done < total)
                    {
                        log.Info("{0}: loading {1}: {2}", label, range, new TransferProgress(done, total, loading.Elapsed).Describe());
                    }
                });
                return new Built(range, executor, clock.Elapsed.TotalSeconds);
            })
            .PipeTo(Self, failure: e => new BuildFailed(range, e.GetBaseException().Message));
        Become(() => Building(range));
    }

    /// <summary>
    /// Units of the range failed their check and were removed: pulled again from peers, once per assignment; a unit
    /// still corrupt after that fails the load, so the coordinator places the range elsewhere.
    /// </summary>
    private void OnCorrupt(Corrupt c)
    {
        Become(Idle);
        foreach (var (unit, problem) in c.Units)
        {
            _log.Error("{0}: unit {1} of {2} is corrupt on disk and will not be served; removed it, pulling it again from a peer: {3}", _device.Label, unit, c.Range, problem);
        }

        if (_target is not { } t)
        {
            return;
        }

        if (t.Range != c.Range)
        {
            StartLoad(t);
            return;
        }

        if (t.Repulled)
        {
            Fail(c.Range, $"unit(s) {string.Join(", ", c.Units.Select(u => u.Unit))} corrupt again after pulling them from a peer");
            return;
        }

        _target = t with { Repulled = true };
        StartLoad(_target);
    }

    private void OnBuilt(Built b)
    {
        Become(Idle);
        if (_target is { } t && t.Range == b.Range)
        {
            _target = null;
            _handedOver.Add(b.Range);
            Context.Parent.Tell(new RangeLoader.Loaded(b.Executor));
            _log.Info("{0}: loaded {1} in {2:F2} s; {3}", _device.Label, b.Range, b.Seconds, b.Executor.PathDescription);

            // The worker has the executor in its mailbox before the coordinator can route a step to it.
            _coordinator.Tell(new PlacementMessages.UnitsLoaded(_device.Key, t.Version, b.Range, b.Seconds), Context.Parent);
            return;
        }

        // The assignment changed while this range loaded: the executor is nobody's.
        b.Executor.Dispose();
        if (_target is { } next)
        {
            StartLoad(next);
        }
    }

    private void Fail(UnitRange range, string reason)
    {
        foreach (var f in _fetchers.Values)
        {
            Context.Stop(f);
        }

        _fetchers.Clear();
        Become(Idle);
        if (_target is { } next && next.Range != range)
        {
            // The failure is the range's that was loading, not the one assigned since: load that one.
            _log.Warning("{0}: could not load {1} ({2}); loading {3}, assigned since", _device.Label, range, reason, next.Range);
            StartLoad(next);
            return;
        }

        _log.Warning("{0}: could not load {1}: {2}", _device.Label, range, reason);
        if (_target is { } t)
        {
            _coordinator.Tell(new PlacementMessages.UnitsLoadFailed(_device.Key, t.Version, t.Range, reason), Context.Parent);
            _target = null;
        }
    }
}
