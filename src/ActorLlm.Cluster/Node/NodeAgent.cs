using ActorLlm.Cluster.Hosting;
using ActorLlm.Inference.Checkpoints;
using Akka.Actor;

namespace ActorLlm.Cluster.Node;

/// <summary>
/// One per worker node: makes sure the node has a unit store (its own, or one created from a peer's manifest once the
/// node is up, pulling unit files later as they are assigned), finds the devices it was configured with, measures
/// each, and starts one StageWorker per device on its own pinned thread. Local messages only.
/// </summary>
public static class NodeAgent
{
    public const string Name = "node";

    /// <param name="store">The node's store, or null to create one from a peer's manifest.</param>
    public static Props Props(ActorLlmSettings settings, UnitStore? store, IActorRef coordinator, IActorRef unitServer) =>
        Akka.Actor.Props.Create(() => new Internal.NodeAgentActor(settings, store, coordinator, unitServer));
}
