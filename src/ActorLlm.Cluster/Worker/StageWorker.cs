using ActorLlm.Cluster.Hosting;
using ActorLlm.Inference.Checkpoints;
using ActorLlm.Inference.Devices;
using ActorLlm.Inference.Execution;
using ActorLlm.Protocol;
using ActorLlm.Protocol.Messages;
using Akka.Actor;

namespace ActorLlm.Cluster.Worker;

/// <summary>
/// What a device offers: bytes for weights and cache, measured decoder-layer forwards per second, host memory it may
/// pin for streamed layers and its measured host-to-device bandwidth (both 0: it streams nothing).
/// </summary>
public sealed record DeviceCapacity(long Bytes, double Speed, long PinnableBytes = 0, double HostToDeviceBytesPerSecond = 0);

/// <summary>What one StageWorker needs to know about its device and its node (timings from <c>actorllm.worker</c>).</summary>
/// <param name="Device">"cpu", "cuda:0", ...</param>
/// <param name="Memory">The device's capacity, as its NodeAgent measured it (or as configured).</param>
/// <param name="DrainCheckInterval">How often draining ranges are checked against <paramref name="DrainTimeout"/>.</param>
/// <param name="Batching">The scheduler's knobs (<see cref="BatchPlan"/>): its token budget per pass.</param>
/// <param name="ReleasedSessionMemory">How long a released session is remembered, so that its late steps are dropped.</param>
/// <param name="RegisterBackoffMax">The longest wait between registrations the coordinator refuses (the wait doubles from <paramref name="RegisterRetry"/>).</param>
/// <param name="Trust">Whom this node belongs to, as it declares it (<c>actorllm.worker.trust</c>).</param>
/// <param name="LieOrHonest">Fault injection for tests (<c>actorllm.worker.lie</c>); null: honest.</param>
/// <param name="SessionIdleTimeout">A session with no step for this long is released (its gateway is gone).</param>
public sealed record StageWorkerSettings(
    string Device,
    ComputeTarget Target,
    string Machine,
    DeviceCapacity Memory,
    KvCacheOptions Cache,
    TimeSpan RegisterRetry,
    TimeSpan LoadReportInterval,
    TimeSpan DrainTimeout,
    TimeSpan DrainCheckInterval,
    BatchOptions Batching,
    TimeSpan ReleasedSessionMemory,
    FetchSettings Fetch,
    ModelId ModelId,
    TimeSpan SessionIdleTimeout,
    TimeSpan RegisterBackoffMax,
    bool CudaGraphs = true,
    DeviceTrust Trust = DeviceTrust.Trusted,
    LieSettings? LieOrHonest = null)
{
    /// <summary>Fault injection (tests only): honest unless configured.</summary>
    public LieSettings Lie => LieOrHonest ?? LieSettings.Honest;
}

/// <summary>
/// One actor per device (each GPU; the CPU when configured), on its own pinned thread, started by its node's
/// NodeAgent with the device's measured figures in its settings. It registers with the PlacementCoordinator until
/// acknowledged, loads the unit ranges it is assigned (pulling missing unit files from peers) while still serving
/// the old ones, and runs the activations of every session routed through it, batching the requests that wait
/// together (<see cref="BatchPlan"/>).
/// Messages: PlacementMessages.AssignUnits / ReleaseUnits from the coordinator, StageMessages.Forward /
/// ReleaseSession from sessions and upstream stages.
/// </summary>
public static class StageWorker
{
    /// <summary>The pinned dispatcher (one thread per worker) from reference.conf.</summary>
    public const string DispatcherId = "actorllm.stage-dispatcher";

    /// <param name="store">The node's unit store (may lack unit files; they are pulled when assigned).</param>
    /// <param name="coordinator">The PlacementCoordinator singleton proxy.</param>
    /// <param name="unitServer">This node's UnitServer, announced so peers can pull from it.</param>
    public static Props Props(StageWorkerSettings settings, UnitStore store, IActorRef coordinator, IActorRef unitServer) =>
        Akka.Actor.Props.Create(() => new Internal.StageWorkerActor(settings, store, coordinator, unitServer)).WithDispatcher(DispatcherId);

    /// <summary>Ask a worker how it is (tests, status): replies <see cref="State"/>. Local only.</summary>
    public sealed record GetState
    {
        public static GetState Instance { get; } = new();
    }

    /// <summary>
    /// Ask a worker how many tensors live on its thread (tests, diagnostics): replies <see cref="LiveTensors"/>.
    /// Local only. Every tensor of a step is created and disposed on the worker's pinned thread, so a count that grows
    /// from step to step is a leak; weights and KV caches are built on other threads and do not count.
    /// </summary>
    public sealed record GetLiveTensors
    {
        public static GetLiveTensors Instance { get; } = new();
    }

    /// <param name="Count">Tensors created on the worker's thread and not disposed there (TorchSharp's per-thread count).</param>
    /// <param name="ThreadId">The managed thread the count was read on: one and the same for every answer of a worker.</param>
    public sealed record LiveTensors(long Count, int ThreadId);

    /// <summary>A worker's registration and the ranges it serves (draining ones included).</summary>
    public sealed record State(bool Registered, DeviceKey DeviceKey, IReadOnlyList<Protocol.UnitRange> Serving, IReadOnlyList<Protocol.UnitRange> Draining, int ActiveSessions);
}
