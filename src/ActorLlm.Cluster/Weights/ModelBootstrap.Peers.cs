using ActorLlm.Inference;
using ActorLlm.Inference.Checkpoints;
using ActorLlm.Protocol;
using ActorLlm.Protocol.Messages;
using Akka.Actor;

namespace ActorLlm.Cluster.Weights;

/// <summary>A peer's manifest and model files, checked against each other; <see cref="From"/> names the peer.</summary>
public sealed record ManifestOffer(StoreManifest Manifest, IReadOnlyDictionary<string, byte[]> Files, string From)
{
    public ModelId Identity => ModelIdentity.Of(Manifest);
}

public static partial class ModelBootstrap
{
    /// <summary>
    /// Asks every candidate (peers' <see cref="UnitServer"/>s: <see cref="IActorRef"/>s, or
    /// <see cref="ActorSelection"/>s of <c>address/user/units</c>) at once for the manifest and returns the first
    /// usable reply: a manifest that parses and validates, of <paramref name="expectedIdentity"/> when given, with
    /// every file it lists sent along and matching its size and sha256. Throws a
    /// <see cref="ModelBootstrapException"/> naming each candidate's failure when none gives one within
    /// <paramref name="timeout"/>.
    /// </summary>
    public static async Task<ManifestOffer> FetchManifestAsync(IReadOnlyList<ICanTell> candidates, TimeSpan timeout, ModelId? expectedIdentity = null)
    {
        if (candidates.Count == 0)
        {
            throw new ModelBootstrapException("no peers to ask for the model's manifest");
        }

        // Cancelled once an offer is taken, so the other asks' temporary actors go now rather than at the timeout.
        using var done = new CancellationTokenSource();
        var pending = candidates.ToDictionary(
            c => c.Ask<object>(new WeightMessages.FetchManifest(), timeout, done.Token),
            Describe);
        var reasons = new List<string>();
        try
        {
            while (pending.Count > 0)
            {
                var reply = await Task.WhenAny(pending.Keys).ConfigureAwait(false);
                string from = pending[reply];
                pending.Remove(reply);
                var (offer, reason) = await Judge(reply, from, timeout, expectedIdentity).ConfigureAwait(false);
                if (offer is not null)
                {
                    return offer;
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
    /// For a node with no model: takes the first usable manifest from <paramref name="candidates"/>
    /// (<see cref="FetchManifestAsync"/>) and creates a store holding no units yet at
    /// <see cref="StoreDirectoryFor"/>, with config.json and the tokenizer files. A store already there for the
    /// same units (this node's own from an earlier start) is opened as it is, keeping the units it gained.
    /// </summary>
    public static async Task<UnitStore> CreateStoreFromPeersAsync(
        IReadOnlyList<ICanTell> candidates, string cacheDir, TimeSpan timeout, Action<string>? log = null, ModelId? expectedIdentity = null)
    {
        var offer = await FetchManifestAsync(candidates, timeout, expectedIdentity).ConfigureAwait(false);
        string dir = StoreDirectoryFor(offer.Manifest, cacheDir);
        var store = UnitStore.CreateEmpty(dir, offer.Manifest, offer.Files);
        log?.Invoke($"model {offer.Identity} from {offer.From}: store at {dir}, {store.PresentUnits().Count} of {store.UnitCount} units present");
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

    private static async Task<(ManifestOffer? Offer, string? Reason)> Judge(Task<object> reply, string from, TimeSpan timeout, ModelId? expectedIdentity)
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

    /// <summary>Everything <see cref="UnitStore.CreateEmpty"/> would refuse, checked per reply so a bad one is skipped.</summary>
    private static (ManifestOffer? Offer, string? Reason) Check(WeightMessages.ManifestReply reply, string from, ModelId? expectedIdentity)
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

        var files = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        foreach (var f in reply.Files)
        {
            var entry = manifest.Files.FirstOrDefault(e => e.Name == f.Name);
            if (entry is null || !files.TryAdd(f.Name, f.Data))
            {
                return (null, $"sent file '{f.Name}', which its manifest does not list (or sent it twice)");
            }

            if (f.Data.Length != entry.Bytes || FileDigest.Sha256(f.Data) != entry.Sha256)
            {
                return (null, $"sent a '{f.Name}' that does not match its manifest's size and sha256");
            }
        }

        if (manifest.Files.FirstOrDefault(e => !files.ContainsKey(e.Name)) is { } missing)
        {
            return (null, $"did not send '{missing.Name}', which its manifest lists");
        }

        return (new ManifestOffer(manifest, files, from), null);
    }

    private static string Describe(ICanTell candidate) => candidate switch
    {
        IActorRef r => r.Path.ToString(),
        ActorSelection s => $"{s.Anchor.Path.Address}{s.PathString}",
        _ => candidate.ToString() ?? "?",
    };
}
