using ActorLlm.Cluster.Hosting;
using ActorLlm.Cluster.Weights.Internal;
using ActorLlm.Inference.Checkpoints;
using ActorLlm.Protocol.Messages;
using Akka.Actor;

namespace ActorLlm.Cluster.Weights;

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
    /// <param name="settings">Chunk size, requests in flight, patience per chunk (<c>actorllm.fetch</c>).</param>
    /// <param name="maxAttempts">Holders tried in all, in order and round again from the first while attempts remain;
    /// null tries each holder once. Every attempt starts the unit over.</param>
    public static Props Props(UnitStore store, int unit, IReadOnlyList<IActorRef> holders, IActorRef replyTo, FetchSettings settings, int? maxAttempts = null)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(holders);
        ArgumentNullException.ThrowIfNull(replyTo);
        ArgumentNullException.ThrowIfNull(settings);
        settings.Validate();
        if (maxAttempts <= 0)
        {
            throw new ArgumentException($"a fetch needs at least one attempt, got {maxAttempts}", nameof(maxAttempts));
        }

        var copy = holders.ToArray();
        return Akka.Actor.Props.Create(() => new UnitFetcherActor(store, unit, copy, replyTo, settings, maxAttempts ?? copy.Length));
    }

    /// <summary>
    /// Fetcher → replyTo (local): <paramref name="Unit"/> is installed and verified, <paramref name="Bytes"/> long,
    /// pulled from <paramref name="From"/> (an actor path; "local store" when it was already present).
    /// </summary>
    public sealed record Fetched(int Unit, long Bytes, TimeSpan Elapsed, string From) : INoSerializationVerificationNeeded;

    /// <summary>Fetcher → replyTo (local): no holder delivered a good copy; <paramref name="Reason"/> names each one's failure.</summary>
    public sealed record Failed(int Unit, string Reason) : INoSerializationVerificationNeeded;
}
