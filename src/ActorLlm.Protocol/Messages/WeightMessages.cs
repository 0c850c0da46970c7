using MessagePack;

namespace ActorLlm.Protocol.Messages;

/// <summary>Moving unit files between nodes: a node that lacks a unit pulls exactly that unit's file from a peer.</summary>
public static class WeightMessages
{
    /// <summary>A node's UnitServer → a peer's UnitServer: send the store manifest and the small model files.</summary>
    [MessagePackObject]
    public sealed record FetchManifest : IActorLlmMessage;

    /// <summary>A small model file (config, tokenizer) carried whole.</summary>
    [MessagePackObject]
    public sealed record ModelFile(
        [property: Key(0)] string Name,
        [property: Key(1)] byte[] Data);

    /// <summary>UnitServer → requester: the manifest (JSON) and the small files a store needs besides unit files.</summary>
    [MessagePackObject]
    public sealed record ManifestReply(
        [property: Key(0)] byte[] ManifestJson,
        [property: Key(1)] ModelFile[] Files) : IActorLlmMessage;

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
