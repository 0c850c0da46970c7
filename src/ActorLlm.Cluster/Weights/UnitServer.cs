using ActorLlm.Cluster.Weights.Internal;
using ActorLlm.Inference.Checkpoints;
using ActorLlm.Protocol.Messages;
using ActorLlm.Protocol.Serialization;
using Akka.Actor;

namespace ActorLlm.Cluster.Weights;

/// <summary>
/// Serves this node's unit store to peers: the manifest with the small model files
/// (<see cref="WeightMessages.FetchManifest"/> → <see cref="WeightMessages.ManifestReply"/>) and pieces of unit files
/// (<see cref="WeightMessages.FetchUnitChunk"/> → <see cref="WeightMessages.UnitChunk"/>). Anything it cannot serve is
/// answered with <see cref="WeightMessages.UnitUnavailable"/> and a reason, never with silence, so a fetcher moves on
/// at once instead of waiting for its timeout. Every node runs one at <see cref="Path"/>.
/// </summary>
public static class UnitServer
{
    /// <summary>The actor's name under /user: every node's server is at <c>/user/units</c>.</summary>
    public const string Name = "units";

    /// <summary>The well-known path of a node's server, relative to the node's address.</summary>
    public const string Path = "/user/" + Name;

    /// <summary>
    /// The unit given in <see cref="WeightMessages.UnitUnavailable"/> when a request is about no unit in
    /// particular: a manifest request to a node that has no store, or a manifest too large to send.
    /// </summary>
    public const int NoUnit = -1;

    /// <summary>
    /// A server for <paramref name="store"/> (null: a node with no model yet, which refuses every request until it
    /// is given one with <see cref="Serve"/>). Units are looked up per request, so a unit installed into the store
    /// later (e.g. by a <see cref="UnitFetcher"/>) is served from then on. <paramref name="limits"/> bounds chunk
    /// requests and the manifest reply.
    /// </summary>
    public static Props Props(UnitStore? store, WireLimits limits)
    {
        ArgumentNullException.ThrowIfNull(limits);
        return Akka.Actor.Props.Create(() => new UnitServerActor(store, limits));
    }

    /// <summary>
    /// Local only: serve <paramref name="Store"/> from now on, e.g. once a node without a model has created its store
    /// from a peer's manifest. The caller keeps owning the store (the server never disposes it).
    /// </summary>
    public sealed record Serve(UnitStore Store) : INoSerializationVerificationNeeded;
}
