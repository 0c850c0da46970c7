using ActorLlm.Cluster.Weights.Internal;
using ActorLlm.Inference.Checkpoints;
using ActorLlm.Protocol.Messages;
using Akka.Actor;

namespace ActorLlm.Cluster.Weights;

/// <summary>How a <see cref="UnitFetcher"/> pulls a unit: chunk size, requests in flight, patience, attempts.</summary>
public sealed record FetchOptions
{
    public static FetchOptions Default { get; } = new();

    /// <summary>
    /// Bytes asked for per <see cref="WeightMessages.FetchUnitChunk"/>. Capped at the actor system's configured
    /// <c>actorllm.wire.max-chunk-bytes</c>, since a peer refuses anything larger.
    /// </summary>
    public int ChunkBytes { get; init; } = 1024 * 1024;

    /// <summary>Chunk requests in flight at once: enough to keep a link busy across its round trip.</summary>
    public int Window { get; init; } = 4;

    /// <summary>How long one chunk may take before its holder is given up on.</summary>
    public TimeSpan ChunkTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Holders tried in all, in order and round again from the first while attempts remain; null tries each
    /// holder once. Every attempt starts the unit over.
    /// </summary>
    public int? MaxAttempts { get; init; }

    internal void Validate()
    {
        if (ChunkBytes <= 0 || Window <= 0 || ChunkTimeout <= TimeSpan.Zero || MaxAttempts <= 0)
        {
            throw new ArgumentException($"fetch options need a positive chunk size, window, timeout and attempt count: {this}");
        }
    }
}

/// <summary>
/// Pulls one unit's file from nodes that hold it into the local <see cref="UnitStore"/>, then stops. Chunks are
/// requested a window at a time and written at their offsets into a hidden temporary file inside the store's
/// directory; the complete file is installed with <see cref="UnitStore.InstallUnit"/>, which checks its size and
/// sha256 against the manifest, so a corrupt or partial unit is never installed. A holder that refuses
/// (<see cref="WeightMessages.UnitUnavailable"/>), lets a chunk time out, stops, sends a chunk of the wrong size, or
/// whose file fails the checksum, is given up on and the unit is started over from the next holder. The reply to
/// <c>replyTo</c> is one <see cref="Fetched"/> or <see cref="Failed"/>; no temporary file is left behind either way.
/// </summary>
public static class UnitFetcher
{
    /// <summary>
    /// A fetcher of <paramref name="unit"/> from <paramref name="holders"/> (typically their <see cref="UnitServer"/>s),
    /// which must answer chunk requests themselves (replies from any other sender are ignored).
    /// </summary>
    public static Props Props(UnitStore store, int unit, IReadOnlyList<IActorRef> holders, IActorRef replyTo, FetchOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(holders);
        ArgumentNullException.ThrowIfNull(replyTo);
        options ??= FetchOptions.Default;
        options.Validate();
        var copy = holders.ToArray();
        return Akka.Actor.Props.Create(() => new UnitFetcherActor(store, unit, copy, replyTo, options));
    }

    /// <summary>
    /// Fetcher → replyTo (local): <paramref name="Unit"/> is installed and verified, <paramref name="Bytes"/> long,
    /// pulled from <paramref name="From"/> (an actor path; "local store" when it was already present).
    /// </summary>
    public sealed record Fetched(int Unit, long Bytes, TimeSpan Elapsed, string From) : INoSerializationVerificationNeeded;

    /// <summary>Fetcher → replyTo (local): no holder delivered a good copy; <paramref name="Reason"/> names each one's failure.</summary>
    public sealed record Failed(int Unit, string Reason) : INoSerializationVerificationNeeded;
}
