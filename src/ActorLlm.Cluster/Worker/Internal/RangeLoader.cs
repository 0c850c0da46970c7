using ActorLlm.Inference.Checkpoints;
using ActorLlm.Inference.Execution;
using ActorLlm.Protocol;
using ActorLlm.Protocol.Messages;
using Akka.Actor;

namespace ActorLlm.Cluster.Worker.Internal;

/// <summary>
/// A stage worker's child that turns the coordinator's assignments into executors, while the worker keeps serving
/// what it holds (make-before-break: the old range serves until the coordinator releases it). It keeps the latest
/// assignment not yet loaded (the target), pulls the units the node's store lacks (one UnitFetcher child per unit),
/// checks every unit's file against the manifest's sha256 (a corrupt one is removed and pulled again, once),
/// builds the StageExecutor on the thread pool, hands it to the worker, and answers the coordinator with
/// UnitsLoaded or UnitsLoadFailed, sent as the worker.
/// One load at a time: an assignment arriving meanwhile replaces the target. When a load ends, an executor whose
/// range is no longer the target is disposed and the target is loaded next; a failure belongs to the range that was
/// loading, so it is reported only while that range is still the target (otherwise the target is loaded).
/// </summary>
internal static class RangeLoader
{
    /// <param name="device">The worker's device: its key goes in the reports, its label in the log.</param>
    /// <param name="ownUnitServer">The worker's node's UnitServer, never pulled from: its store is the one loading.</param>
    public static Props Props(DeviceDescriptor device, StageWorkerSettings settings, UnitStore store, IActorRef coordinator, IActorRef ownUnitServer) =>
        Akka.Actor.Props.Create(() => new RangeLoaderActor(device, settings, store, coordinator, ownUnitServer));

    /// <summary>
    /// Worker → loader: the coordinator's <paramref name="Assignment"/>, and whether the worker serves its range
    /// already (loaded, or taken back from draining). A served range is answered at once, to
    /// <paramref name="ReplyTo"/>, and leaves nothing to load: a load under way is then for nothing.
    /// </summary>
    public sealed record Assign(PlacementMessages.AssignUnits Assignment, IActorRef ReplyTo, bool Served);

    /// <summary>
    /// Loader → worker: the executor of a range loaded as assigned. The worker owns it from here (serves it, disposes
    /// it) and answers <see cref="Adopted"/>.
    /// </summary>
    public sealed record Loaded(StageExecutor Executor) : INoSerializationVerificationNeeded;

    /// <summary>
    /// Worker → loader: the worker holds the executor of <paramref name="Range"/>, so the Served flag of the
    /// assignments it sends from now on covers it. Until then the loader counts the range as served itself.
    /// </summary>
    public sealed record Adopted(UnitRange Range);
}
