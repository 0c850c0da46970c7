using MessagePack;

namespace ActorLlm.Protocol.Messages;

/// <summary>Moving unit files between nodes: a node that lacks a unit pulls exactly that unit's file from a peer.</summary>
public static class WeightMessages
{
    /// <summary>A node's UnitServer → a peer's UnitServer: send the store manifest.</summary>
    [MessagePackObject]
    public sealed record FetchManifest : IActorLlmMessage;

    /// <summary>
    /// UnitServer → requester: the manifest (JSON) and nothing else. The model files it lists besides unit files
    /// (tokenizer, generation config; any size) are pulled in chunks with <see cref="FetchFileChunk"/>, so neither
    /// reply ever comes near the payload limit however large a tokenizer is.
    /// </summary>
    [MessagePackObject]
    public sealed record ManifestReply(
        [property: Key(0)] byte[] ManifestJson) : IActorLlmMessage;

    /// <summary>
    /// Requester → UnitServer: send bytes [Offset, Offset + Length) of model file <paramref name="Name"/> (one the
    /// manifest lists in its files). Reply <see cref="FileChunk"/> or <see cref="FileUnavailable"/>.
    /// </summary>
    [MessagePackObject]
    public sealed record FetchFileChunk(
        [property: Key(0)] string Name,
        [property: Key(1)] long Offset,
        [property: Key(2)] int Length) : IActorLlmMessage;

    /// <summary>UnitServer → requester: a piece of a model file (the requester checks the whole file's size and sha256).</summary>
    [MessagePackObject]
    public sealed record FileChunk(
        [property: Key(0)] string Name,
        [property: Key(1)] long Offset,
        [property: Key(2)] byte[] Data,
        [property: Key(3)] long TotalBytes) : IActorLlmMessage;

    /// <summary>UnitServer → requester: this node cannot serve that model file (or that range of it), and why.</summary>
    [MessagePackObject]
    public sealed record FileUnavailable(
        [property: Key(0)] string Name,
        [property: Key(1)] string Reason) : IActorLlmMessage;

    /// <summary>
    /// Requester → UnitServer: send bytes [Offset, Offset + Length) of unit <paramref name="Unit"/>'s file.
    /// Reply <see cref="UnitChunk"/> or <see cref="UnitUnavailable"/>.
    /// </summary>
    [MessagePackObject]
    public sealed record FetchUnitChunk(
        [property: Key(0)] int Unit,
        [property: Key(1)] long Offset,
        [property: Key(2)] int Length) : IActorLlmMessage;

    /// <summary>UnitServer → requester: a piece of a unit file (the requester checks the whole file's sha256).</summary>
    [MessagePackObject]
    public sealed record UnitChunk(
        [property: Key(0)] int Unit,
        [property: Key(1)] long Offset,
        [property: Key(2)] byte[] Data,
        [property: Key(3)] long TotalBytes) : IActorLlmMessage;

    /// <summary>UnitServer → requester: this node cannot serve that unit (or that range of it).</summary>
    [MessagePackObject]
    public sealed record UnitUnavailable(
        [property: Key(0)] int Unit,
        [property: Key(1)] string Reason) : IActorLlmMessage;
}
