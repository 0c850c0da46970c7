using ActorLlm.Cluster.Hosting;
using ActorLlm.Inference;
using ActorLlm.Inference.Checkpoints;
using ActorLlm.Protocol;
using ActorLlm.Protocol.Messages;
using Akka.Actor;

namespace ActorLlm.Cluster.Weights;

/// <summary>A peer's manifest and the side files it lists (pulled in chunks), checked against each other; <see cref="From"/> names the peer.</summary>
public sealed record ManifestOffer(StoreManifest Manifest, IReadOnlyDictionary<string, byte[]> Files, string From)
{
    public ModelId Identity => ModelIdentity.Of(Manifest);
}

public static partial class ModelBootstrap
{
    /// <summary>
    /// The largest side file (tokenizer, generation config) a node pulls: it is assembled in memory before its sha256
    /// is checked and it is written. Real tokenizers are tens of megabytes; a manifest from a peer claiming more is
    /// refused rather than allocated.
    /// </summary>
    public const long MaxSideFileBytes = 1L << 30;

    /// <summary>
    /// Asks every candidate (peers' <see cref="UnitServer"/>s: <see cref="IActorRef"/>s, or
    /// <see cref="ActorSelection"/>s of <c>address/user/units</c>) at once for the manifest and takes the first
    /// usable reply: a manifest that parses and validates, of <paramref name="expectedIdentity"/> when given, whose
    /// every listed file the same peer then sends in chunks (<see cref="WeightMessages.FetchFileChunk"/>, at most
    /// <paramref name="fetch"/>'s chunk size, a window of them in flight, each answered within its chunk timeout)
    /// matching the manifest's size and sha256. A candidate that fails any of it is passed over for the next reply.
    /// Throws a <see cref="ModelBootstrapException"/> naming each candidate's failure when none gives a usable one
    /// (manifests are waited for <paramref name="timeout"/>).
    /// </summary>
    public static async Task<ManifestOffer> FetchManifestAsync(
        IReadOnlyList<ICanTell> candidates, TimeSpan timeout, FetchSettings fetch, ModelId? expectedIdentity = null)
    {
        ArgumentNullException.ThrowIfNull(fetch);
        fetch.Validate();
        if (candidates.Count == 0)
        {
            throw new ModelBootstrapException("no peers to ask for the model's manifest");
        }

        // Cancelled once an offer is taken, so the other asks' temporary actors go now rather than at the timeout.
        using var done = new CancellationTokenSource();
        var pending = candidates.ToDictionary(
            c => c.Ask<object>(new WeightMessages.FetchManifest(), timeout, done.Token),
            c => (Peer: c, Name: Describe(c)));
        var reasons = new List<string>();
        try
        {
            while (pending.Count > 0)
            {
                var reply = await Task.WhenAny(pending.Keys).ConfigureAwait(false);
                var (peer, from) = pending[reply];
                pending.Remove(reply);
                var (manifest, reason) = await Judge(reply, from, timeout, expectedIdentity).ConfigureAwait(false);
                if (manifest is not null)
                {
                    (var files, reason) = await PullFiles(peer, manifest, fetch, done.Token).ConfigureAwait(false);
                    if (files is not null)
                    {
                        return new ManifestOffer(manifest, files, from);
                    }
                }

                reasons.Add($"{from}: {reason}");
            }
        }
        finally
        {
            await done.CancelAsync().ConfigureAwait(false);
        }

        throw new ModelBootstrapException($"no peer offered a usable model manifest: {string.Join("; ", reasons)}");
    }

    /// <summary>
    /// For a node with no model: takes the first usable manifest and its files from <paramref name="candidates"/>
    /// (<see cref="FetchManifestAsync"/>) and creates a store holding no units yet at
    /// <see cref="StoreDirectoryFor"/>, with config.json and the side files. A store already there for the
    /// same units (this node's own from an earlier start) is opened as it is, keeping the units it gained.
    /// </summary>
    public static async Task<UnitStore> CreateStoreFromPeersAsync(
        IReadOnlyList<ICanTell> candidates, string cacheDir, TimeSpan timeout, FetchSettings fetch, Action<string>? log = null, ModelId? expectedIdentity = null)
    {
        var offer = await FetchManifestAsync(candidates, timeout, fetch, expectedIdentity).ConfigureAwait(false);
        string dir = StoreDirectoryFor(offer.Manifest, cacheDir);
        var store = UnitStore.CreateEmpty(dir, offer.Manifest, offer.Files);
        long fileBytes = offer.Files.Values.Sum(f => (long)f.Length);
        log?.Invoke($"model {offer.Identity} from {offer.From} ({offer.Files.Count} side file(s), {fileBytes} bytes): store at {dir}, {store.PresentUnits().Count} of {store.UnitCount} units present");
        return store;
    }

    /// <summary>
    /// Where a store created from a peer's manifest lives: <c>cacheDir/&lt;model_type&gt;-&lt;identity&gt;</c>, one
    /// directory per model, so a restarted node finds the units it already pulled.
    /// </summary>
    public static string StoreDirectoryFor(StoreManifest manifest, string cacheDir)
    {
        string? type = manifest.Config["model_type"]?.GetValueKind() == System.Text.Json.JsonValueKind.String
            ? manifest.Config["model_type"]!.GetValue<string>()
            : null;
        return Path.Combine(cacheDir, $"{SafeName(type, "model")}-{ModelIdentity.Of(manifest)}");
    }

    private static async Task<(StoreManifest? Manifest, string? Reason)> Judge(Task<object> reply, string from, TimeSpan timeout, ModelId? expectedIdentity)
    {
        object answer;
        try
        {
            answer = await reply.ConfigureAwait(false);
        }
        catch (AskTimeoutException)
        {
            return (null, $"no reply within {timeout.TotalSeconds:0.###} s");
        }
        catch (Exception e)
        {
            return (null, e.Message);
        }

        return answer switch
        {
            WeightMessages.ManifestReply m => Check(m, from, expectedIdentity),
            WeightMessages.UnitUnavailable u => (null, $"refused: {u.Reason}"),
            _ => (null, $"unexpected reply {answer.GetType().Name}"),
        };
    }

    /// <summary>Everything <see cref="UnitStore.CreateEmpty"/> would refuse about a manifest, checked per reply so a bad one is skipped.</summary>
    private static (StoreManifest? Manifest, string? Reason) Check(WeightMessages.ManifestReply reply, string from, ModelId? expectedIdentity)
    {
        StoreManifest manifest;
        try
        {
            manifest = StoreManifest.Parse(reply.ManifestJson, $"manifest from {from}");
        }
        catch (ModelFormatException e)
        {
            return (null, e.Message);
        }

        var identity = ModelIdentity.Of(manifest);
        if (expectedIdentity is not null && identity != expectedIdentity)
        {
            return (null, $"serves model {identity}, not {expectedIdentity}");
        }

        if (manifest.Files.FirstOrDefault(f => f.Bytes > MaxSideFileBytes) is { } huge)
        {
            return (null, $"lists '{huge.Name}' of {huge.Bytes} bytes, more than the {MaxSideFileBytes} a node pulls into memory");
        }

        return (manifest, null);
    }

    /// <summary>
    /// Every side file <paramref name="manifest"/> lists, pulled from <paramref name="peer"/> in chunks and checked
    /// against the manifest's size and sha256; or why not (a refusal with the server's reason, a chunk that does not
    /// fit what was asked, a timeout, a digest that does not match).
    /// </summary>
    private static async Task<(Dictionary<string, byte[]>? Files, string? Reason)> PullFiles(ICanTell peer, StoreManifest manifest, FetchSettings fetch, CancellationToken cancel)
    {
        var files = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        foreach (var entry in manifest.Files)
        {
            var data = new byte[entry.Bytes];
            var offsets = Enumerable.Range(0, (int)((entry.Bytes + fetch.ChunkBytes - 1) / fetch.ChunkBytes)).Select(i => (long)i * fetch.ChunkBytes);
            try
            {
                var options = new ParallelOptions { MaxDegreeOfParallelism = fetch.Window, CancellationToken = cancel };
                await Parallel.ForEachAsync(offsets, options, async (offset, token) =>
                {
                    int length = (int)Math.Min(fetch.ChunkBytes, entry.Bytes - offset);
                    object answer = await peer.Ask<object>(new WeightMessages.FetchFileChunk(entry.Name, offset, length), fetch.ChunkTimeout, token).ConfigureAwait(false);
                    switch (answer)
                    {
                        case WeightMessages.FileUnavailable u:
                            throw new FilePullException($"refused '{entry.Name}': {u.Reason}");
                        case WeightMessages.FileChunk c when c.Name != entry.Name || c.Offset != offset || c.TotalBytes != entry.Bytes || c.Data.Length != length:
                            throw new FilePullException(
                                $"answered the chunk of '{entry.Name}' at {offset} (+{length}, of {entry.Bytes}) with '{c.Name}' at {c.Offset} (+{c.Data.Length}, of {c.TotalBytes})");
                        case WeightMessages.FileChunk c:
                            c.Data.CopyTo(data.AsSpan((int)offset));
                            break;
                        default:
                            throw new FilePullException($"answered a chunk of '{entry.Name}' with {answer.GetType().Name}");
                    }
                }).ConfigureAwait(false);
            }
            catch (FilePullException e)
            {
                return (null, e.Message);
            }
            catch (AskTimeoutException)
            {
                return (null, $"no reply for a chunk of '{entry.Name}' within {fetch.ChunkTimeout.TotalSeconds:0.###} s");
            }

            if (FileDigest.Sha256(data) != entry.Sha256)
            {
                return (null, $"sent a '{entry.Name}' that does not match its manifest's sha256");
            }

            files[entry.Name] = data;
        }

        return (files, null);
    }

    private sealed class FilePullException(string message) : Exception(message);

    private static string Describe(ICanTell candidate) => candidate switch
    {
        IActorRef r => r.Path.ToString(),
        ActorSelection s => $"{s.Anchor.Path.Address}{s.PathString}",
        _ => candidate.ToString() ?? "?",
    };
}
