using Akka.Actor;
using MessagePack;

namespace ActorLlm.Protocol.Messages;

/// <summary>
/// Whom a device's node belongs to: the pool's owner (trusted) or someone else (a volunteer, whose stages get a
/// replica elsewhere and whose outputs are verified). A worker declares it (<c>actorllm.worker.trust</c>); in a TLS
/// pool the coordinator also reads it from the node's certificate, and a certificate can only lower it.
/// </summary>
public enum DeviceTrust
{
    Trusted = 0,
    Volunteer = 1,
}

/// <summary>What a device is and how fast it measured; the planner's input for one StageWorker.</summary>
/// <param name="Node">The node's cluster address, e.g. "akka.tcp://actorllm@127.0.0.1:5001".</param>
/// <param name="Device">"cpu", "cuda:0", ...</param>
/// <param name="Machine">The physical host; replicas of a unit are placed on distinct machines.</param>
/// <param name="MemoryBytes">Memory the device offers for weights (and KV cache).</param>
/// <param name="Speed">Measured decoder-layer forwards per second for one token (higher is faster).</param>
/// <param name="DType">Precision it computes in.</param>
/// <param name="PinnableBytes">Host memory the device may pin for layers streamed to it (0: it streams nothing).</param>
/// <param name="HostToDeviceBytesPerSecond">Measured host-to-device copy bandwidth (pinned memory on CUDA, a memory
/// copy on the CPU); the planner costs a streamed layer at max(compute, bytes / bandwidth).</param>
/// <param name="Trust">Whom the node belongs to (<see cref="DeviceTrust"/>); as the coordinator registered it, in route tables and status.</param>
[MessagePackObject]
public sealed record DeviceDescriptor(
    [property: Key(0)] NodeAddress Node,
    [property: Key(1)] string Device,
    [property: Key(2)] string Machine,
    [property: Key(3)] long MemoryBytes,
    [property: Key(4)] double Speed,
    [property: Key(5)] DType DType,
    [property: Key(6)] long PinnableBytes = 0,
    [property: Key(7)] double HostToDeviceBytesPerSecond = 0,
    [property: Key(8)] DeviceTrust Trust = DeviceTrust.Trusted)
{
    /// <summary>A volunteer's device (see <see cref="DeviceTrust"/>).</summary>
    [IgnoreMember]
    public bool Volunteer => Trust == DeviceTrust.Volunteer;

    /// <summary>Unique in the cluster: node address and device.</summary>
    [IgnoreMember]
    public DeviceKey Key => new(Node, Device);

    /// <summary>Short name for people: machine and device, e.g. "worker-1:cpu".</summary>
    [IgnoreMember]
    public string Label => $"{Machine}:{Device}";
}

/// <summary>
/// A stage in the published route table: which worker serves which units, and how busy it is.
/// <paramref name="StreamedLayers"/> of its range's layers (the last ones) are streamed from host memory; the rest are resident.
/// </summary>
[MessagePackObject]
public sealed record RouteEntry(
    [property: Key(0)] IActorRef Worker,
    [property: Key(1)] DeviceDescriptor Device,
    [property: Key(2)] UnitRange Range,
    [property: Key(3)] int ActiveSessions,
    [property: Key(4)] int StreamedLayers = 0)
{
    /// <summary>The units of <see cref="Range"/> that are streamed, or null when the stage is wholly resident.</summary>
    public UnitRange? StreamedUnits(int layers)
    {
        int lastLayer = Math.Min(Range.End, layers + 1) - 1;
        return StreamedLayers <= 0 ? null : new UnitRange(lastLayer - StreamedLayers + 1, lastLayer + 1);
    }
}

/// <summary>Messages between StageWorkers and the PlacementCoordinator singleton.</summary>
public static class PlacementMessages
{
    /// <summary>
    /// StageWorker → PlacementCoordinator, resent every second until acknowledged with <see cref="DeviceRegistered"/>,
    /// and again whenever the coordinator says it does not know the device (a new coordinator after a hand-over).
    /// <paramref name="LocalUnits"/> lists the units whose files the worker's node holds (peers may pull them);
    /// <paramref name="Serving"/> the ranges it has loaded, so a new coordinator can plan from what is in place.
    /// </summary>
    [MessagePackObject]
    public sealed record RegisterDevice(
        [property: Key(0)] DeviceDescriptor Device,
        [property: Key(1)] IActorRef Worker,
        [property: Key(2)] IActorRef UnitServer,
        [property: Key(3)] int[] LocalUnits,
        [property: Key(4)] ModelId ModelId,
        [property: Key(5)] UnitRange[] Serving) : IActorLlmMessage;

    /// <summary>
    /// PlacementCoordinator → StageWorker: registration accepted (or refused, with the reason). A
    /// <paramref name="Final"/> refusal cannot change by registering again (the device's store holds another model):
    /// the worker says why and its node exits; any other (a coordinator that does not know the device yet) is retried.
    /// </summary>
    [MessagePackObject]
    public sealed record DeviceRegistered(
        [property: Key(0)] DeviceKey DeviceKey,
        [property: Key(1)] bool Accepted,
        [property: Key(2)] string Reason,
        [property: Key(3)] bool Final = false) : IActorLlmMessage;

    /// <summary>Where the file of one unit can be pulled from.</summary>
    [MessagePackObject]
    public sealed record UnitSource(
        [property: Key(0)] int Unit,
        [property: Key(1)] IActorRef[] Holders);

    /// <summary>
    /// PlacementCoordinator → StageWorker: load <paramref name="Range"/> (pulling missing unit files from
    /// <paramref name="Sources"/>) while still serving the old range; reply <see cref="UnitsLoaded"/> or
    /// <see cref="UnitsLoadFailed"/>. Resent until answered; a worker answers a repeated version again. The last
    /// <paramref name="StreamedLayers"/> layers of the range are kept in host memory and streamed to the device for
    /// every pass (the plan's decision, from the device's memory; 0: all resident).
    /// </summary>
    [MessagePackObject]
    public sealed record AssignUnits(
        [property: Key(0)] long Version,
        [property: Key(1)] UnitRange Range,
        [property: Key(2)] UnitSource[] Sources,
        [property: Key(3)] int StreamedLayers = 0) : IActorLlmMessage;

    /// <summary>StageWorker → PlacementCoordinator: <paramref name="Range"/> is loaded and served.</summary>
    [MessagePackObject]
    public sealed record UnitsLoaded(
        [property: Key(0)] DeviceKey DeviceKey,
        [property: Key(1)] long Version,
        [property: Key(2)] UnitRange Range,
        [property: Key(3)] double Seconds) : IActorLlmMessage;

    /// <summary>StageWorker → PlacementCoordinator: <paramref name="Range"/> could not be loaded.</summary>
    [MessagePackObject]
    public sealed record UnitsLoadFailed(
        [property: Key(0)] DeviceKey DeviceKey,
        [property: Key(1)] long Version,
        [property: Key(2)] UnitRange Range,
        [property: Key(3)] string Reason) : IActorLlmMessage;

    /// <summary>
    /// PlacementCoordinator → StageWorker: routes no longer use <paramref name="Range"/>; drop it once the sessions
    /// still using it are done (make-before-break: sent only after the replacement is loaded and published).
    /// </summary>
    [MessagePackObject]
    public sealed record ReleaseUnits(
        [property: Key(0)] long Version,
        [property: Key(1)] UnitRange Range) : IActorLlmMessage;

    /// <summary>
    /// StageWorker → PlacementCoordinator, every few seconds: how busy the stage is. The coordinator answers only if it
    /// does not know the device, with <see cref="DeviceRegistered"/> not accepted, which makes the worker register again.
    /// </summary>
    [MessagePackObject]
    public sealed record StageLoad(
        [property: Key(0)] DeviceKey DeviceKey,
        [property: Key(1)] int ActiveSessions,
        [property: Key(2)] int Queued,
        [property: Key(3)] double TokensPerSecond) : IActorLlmMessage;

    /// <summary>
    /// PlacementCoordinator → every node (published on the "routes" topic, and in reply to <see cref="GetRoutes"/>):
    /// the stages that serve the model now. Tables are ordered by (<paramref name="Epoch"/>, <paramref name="Version"/>):
    /// the epoch names the coordinator's incarnation and grows when the singleton moves or restarts (its versions then
    /// start again from 1), the version grows with every table of one incarnation. A receiver ignores older tables.
    /// </summary>
    [MessagePackObject]
    public sealed record RouteTable(
        [property: Key(0)] long Version,
        [property: Key(1)] int UnitCount,
        [property: Key(2)] RouteEntry[] Stages,
        [property: Key(3)] PlacementStatus Status,
        [property: Key(4)] bool Loading,
        [property: Key(5)] long Epoch) : IActorLlmMessage
    {
        public static RouteTable Empty { get; } = new(0, 0, [], PlacementStatus.NoPlan, false, 0);

        /// <summary>Whether this table comes after <paramref name="other"/>: a newer epoch, or the same epoch and a higher version.</summary>
        public bool IsNewerThan(RouteTable other)
        {
            ArgumentNullException.ThrowIfNull(other);
            return Epoch != other.Epoch ? Epoch > other.Epoch : Version > other.Version;
        }
    }

    /// <summary>Anyone → PlacementCoordinator: reply with the current <see cref="RouteTable"/>.</summary>
    [MessagePackObject]
    public sealed record GetRoutes : IActorLlmMessage;

    /// <summary>
    /// A gateway's session → PlacementCoordinator: verification caught <paramref name="Device"/> computing wrong
    /// results (<paramref name="Reason"/>); give it no more work. No reply. Obeyed only from gateways with trusted
    /// certificates (or the coordinator's own node).
    /// </summary>
    [MessagePackObject]
    public sealed record Quarantine(
        [property: Key(0)] DeviceKey Device,
        [property: Key(1)] string Reason) : IActorLlmMessage;
}
