using ActorLlm.Cluster.Hosting;
using ActorLlm.Cluster.Weights;
using ActorLlm.Cluster.Worker;
using ActorLlm.Inference.Checkpoints;
using ActorLlm.Inference.Devices;
using ActorLlm.Inference.Execution;
using Akka.Actor;
using Akka.Cluster;
using Akka.Event;
using TorchSharp;
using DeviceType = TorchSharp.DeviceType;

namespace ActorLlm.Cluster.Node.Internal;

/// <summary>See <see cref="NodeAgent"/>.</summary>
internal sealed class NodeAgentActor : ReceiveActor, IWithTimers
{
    private readonly ActorLlmSettings _settings;
    private readonly IActorRef _coordinator;
    private readonly IActorRef _unitServer;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private UnitStore? _store;
    private bool _ownsStore;
    private bool _bootstrapping;

    private sealed record StoreReady(UnitStore Store);

    private sealed record BootstrapFailed(string Reason);

    private sealed record DevicesMeasured(IReadOnlyList<(string Device, ComputeTarget Target, DeviceCapacity Capacity)> Devices);

    private sealed record TryBootstrap
    {
        public static TryBootstrap Instance { get; } = new();
    }

    public NodeAgentActor(ActorLlmSettings settings, UnitStore? store, IActorRef coordinator, IActorRef unitServer)
    {
        _settings = settings;
        _store = store;
        _coordinator = coordinator;
        _unitServer = unitServer;
        Receive<TryBootstrap>(_ => Bootstrap());
        Receive<StoreReady>(r =>
        {
            _bootstrapping = false;
            _store = r.Store;
            _ownsStore = true;
            _unitServer.Tell(new UnitServer.Serve(r.Store));
            MeasureDevices();
        });
        Receive<BootstrapFailed>(f =>
        {
            _bootstrapping = false;
            _log.Warning("node: no model yet ({0}); asking peers again shortly", f.Reason);
            Timers.StartSingleTimer("bootstrap", TryBootstrap.Instance, _settings.Model.ManifestRetry);
        });
        Receive<DevicesMeasured>(StartWorkers);
        Receive<Status.Failure>(f => _log.Error(f.Cause, "node: could not measure the devices; no stage workers on this node"));
    }

    public ITimerScheduler Timers { get; set; } = null!;

    protected override void PreStart()
    {
        if (_store is not null)
        {
            MeasureDevices();
        }
        else
        {
            // A node with no model asks its peers for the manifest once it is a member and can reach them.
            // (Self is captured here: the callback runs in another actor's context.)
            var self = Self;
            Akka.Cluster.Cluster.Get(Context.System).RegisterOnMemberUp(() => self.Tell(TryBootstrap.Instance));
        }
    }

    protected override void PostStop()
    {
        if (_ownsStore)
        {
            _store?.Dispose();
        }
    }

    private void Bootstrap()
    {
        if (_bootstrapping || _store is not null)
        {
            return;
        }

        var cluster = Akka.Cluster.Cluster.Get(Context.System);
        var peers = cluster.State.Members
            .Where(m => m.Status == MemberStatus.Up && m.Address != cluster.SelfAddress)
            .Select(m => (ICanTell)Context.ActorSelection(m.Address + UnitServer.Path))
            .ToList();
        if (peers.Count == 0)
        {
            Self.Tell(new BootstrapFailed("no other members yet"));
            return;
        }

        _bootstrapping = true;
        _log.Info("node: no local model; asking {0} peer(s) for the manifest", peers.Count);
        // Side files come in chunks no larger than a peer serves (wire.max-chunk-bytes), like units.
        var fetch = _settings.Fetch with { ChunkBytes = Math.Min(_settings.Fetch.ChunkBytes, _settings.Wire.MaxChunkBytes) };
        ModelBootstrap.CreateStoreFromPeersAsync(peers, _settings.Model.CacheDir, _settings.Model.ManifestTimeout, fetch, m => _log.Info("node: {0}", m))
            .PipeTo(Self, success: s => new StoreReady(s), failure: e => new BootstrapFailed(e.GetBaseException().Message));
    }

    /// <summary>Measuring runs a layer on each device for about a second: off the actor's thread.</summary>
    private void MeasureDevices()
    {
        var store = _store!;
        var worker = _settings.Worker;
        var probe = _settings.Probe;
        var specs = ExpandDevices(worker.Devices);
        Task.Run(() =>
        {
            var measured = new List<(string, ComputeTarget, DeviceCapacity)>();
            foreach (var spec in specs)
            {
                bool cuda = ComputeTarget.ParseDevice(spec).type == DeviceType.CUDA;
                var target = ComputeTarget.Parse(spec, DefaultDType.Choose(worker.DType, cuda, store.Manifest.Config, $"{store.Directory}/config.json"));
                var m = DeviceProbe.Measure(store.Config, target, probe, worker.MemoryLimit > 0 ? worker.MemoryLimit : null);

                // The planner counts weights in stored bytes; a stage computing in a wider dtype than the store's
                // (f32 on a CPU, bf16 on disk) needs more memory per stored byte, so it offers proportionally less.
                int stored = store.Manifest.DTypes.Select(SafetensorsDTypes.Size).DefaultIfEmpty(4).Max();
                long offered = m.MemoryBytes * stored / target.ElementSize;

                // Streaming is offered only with host memory to pin; the planner counts it, and the copy bandwidth, in
                // stored bytes too.
                long pinnable = worker.PinnableMemory * stored / target.ElementSize;
                double bandwidth = pinnable > 0 ? DeviceProbe.HostToDeviceBandwidth(target) * stored / target.ElementSize : 0;
                measured.Add((spec, target, new DeviceCapacity(offered, m.Speed, pinnable, bandwidth)));
            }

            return new DevicesMeasured(measured);
        }).PipeTo(Self);
    }

    private void StartWorkers(DevicesMeasured measured)
    {
        var store = _store!;
        var modelId = ModelIdentity.Of(store.Manifest);
        var cache = new KvCacheOptions(_settings.Worker.MaxSessions, _settings.Worker.MaxContext);
        foreach (var (device, target, capacity) in measured.Devices)
        {
            var settings = new StageWorkerSettings(
                device,
                target,
                _settings.Node.Machine,
                capacity,
                cache,
                _settings.Worker.RegisterRetry,
                _settings.Worker.LoadReportInterval,
                _settings.Worker.DrainTimeout,
                _settings.Worker.DrainCheckInterval,
                new BatchOptions { MaxTokensPerPass = _settings.Worker.MaxTokensPerPass },
                _settings.Worker.ReleasedSessionMemory,
                _settings.Fetch,
                modelId,
                _settings.Worker.SessionIdleTimeout,
                _settings.Worker.RegisterBackoffMax,
                _settings.Worker.CudaGraphs,
                _settings.Worker.Trust,
                _settings.Worker.Lie);
            string name = "stage-" + device.Replace(':', '-');
            Context.ActorOf(StageWorker.Props(settings, store, _coordinator, _unitServer), name);
            _log.Info("node: {0} on {1}: {2:N0} bytes, {3:F0} layer-forwards/s", name, target, capacity.Bytes, capacity.Speed);
        }
    }

    /// <summary>"auto" means every CUDA GPU, or the CPU when there is none.</summary>
    internal static IReadOnlyList<string> ExpandDevices(IReadOnlyList<string> devices) =>
        devices.SelectMany(d => d.Trim().ToLowerInvariant() == "auto"
            ? (torch.cuda.is_available() ? Enumerable.Range(0, torch.cuda.device_count()).Select(i => $"cuda:{i}") : ["cpu"])
            : [d.Trim()])
            .Distinct()
            .ToList();
}
