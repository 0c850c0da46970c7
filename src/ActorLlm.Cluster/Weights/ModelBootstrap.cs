using System.Text;
using ActorLlm.Inference.Checkpoints;

namespace ActorLlm.Cluster.Weights;

/// <summary>
/// Gets a node a local <see cref="UnitStore"/> to serve from: from a model on this machine
/// (<see cref="PrepareLocalStore"/>), or, on a node with no model at all, from a peer's manifest
/// (<see cref="CreateStoreFromPeersAsync"/>), after which units are pulled one by one with <see cref="UnitFetcher"/>.
/// </summary>
public static partial class ModelBootstrap
{
    /// <summary>
    /// The store for <paramref name="model"/> (a directory, a Hugging Face cache entry or <c>ORG/NAME</c> in the
    /// Hugging Face cache: <see cref="ModelLocation.Resolve"/>): a unit store is opened as it is; a Hugging Face
    /// directory is served in place (<see cref="UnitStore.OpenInPlace"/>), its manifest remembered at
    /// <see cref="InPlaceManifestPath"/> under <paramref name="cacheDir"/>. No weight bytes are written anywhere.
    /// </summary>
    public static UnitStore PrepareLocalStore(string model, string cacheDir, Action<string>? log = null, Func<string, string?>? environment = null)
    {
        string modelDir = ModelLocation.Resolve(model, environment);
        if (modelDir != model)
        {
            log?.Invoke($"{model}: {modelDir}");
        }

        if (UnitStore.IsStore(modelDir))
        {
            var store = UnitStore.Open(modelDir);
            log?.Invoke($"{modelDir}: unit store, {store.PresentUnits().Count} of {store.UnitCount} units present");
            return store;
        }

        return UnitStore.OpenInPlace(modelDir, InPlaceManifestPath(modelDir, cacheDir), log);
    }

    /// <summary>
    /// Where <see cref="PrepareLocalStore"/> remembers the manifest of <paramref name="hfDir"/> served in place:
    /// <c>cacheDir/&lt;name&gt;-&lt;fingerprint&gt;.manifest.json</c> (name: the directory's, or the cache entry's for a
    /// Hugging Face snapshot). The fingerprint covers config.json and each safetensors and side file's name, size and
    /// modification time (of the file a symbolic link points to; not their contents: hashing gigabytes on every
    /// start is what the remembered manifest avoids), so a checkpoint replaced in place, or another one in a
    /// directory of the same name, gets a manifest of its own instead of a stale one.
    /// </summary>
    public static string InPlaceManifestPath(string hfDir, string cacheDir)
    {
        var dir = new DirectoryInfo(Path.GetFullPath(hfDir));
        var text = new StringBuilder("actorllm-in-place-v1\n");
        string config = Path.Combine(dir.FullName, UnitStore.ConfigFile);
        text.Append(File.Exists(config) ? FileDigest.Sha256(File.ReadAllBytes(config)) : "no-config").Append('\n');
        var files = dir.EnumerateFiles("*.safetensors*").Concat(StoreManifest.CopiedFileNames.Select(n => new FileInfo(Path.Combine(dir.FullName, n))).Where(f => f.Exists));
        foreach (var link in files.DistinctBy(f => f.Name).OrderBy(f => f.Name, StringComparer.Ordinal))
        {
            var f = link.LinkTarget is null ? link : link.ResolveLinkTarget(returnFinalTarget: true) as FileInfo ?? link;
            text.Append(link.Name).Append(' ').Append(f.Length).Append(' ').Append(f.LastWriteTimeUtc.Ticks).Append('\n');
        }

        string fingerprint = FileDigest.Sha256(Encoding.UTF8.GetBytes(text.ToString()))[..12];
        string name = dir.Parent is { Name: "snapshots", Parent: { } entry } ? entry.Name : dir.Name;
        return Path.Combine(cacheDir, $"{SafeName(name, "model")}-{fingerprint}.manifest.json");
    }

    /// <summary>
    /// A directory name made of <paramref name="name"/>'s letters, digits, '.', '-' and '_' only, since part of it may
    /// come from a peer's config (a name like "../x" must not leave the cache directory).
    /// </summary>
    internal static string SafeName(string? name, string fallback)
    {
        string safe = new((name ?? "").Select(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '-' or '_' ? c : '_').ToArray());
        safe = safe.Trim('.');
        return safe.Length == 0 ? fallback : safe[..Math.Min(safe.Length, 64)];
    }
}

/// <summary>A node could not get a model store: no peer offered a usable manifest in time.</summary>
public sealed class ModelBootstrapException(string message) : Exception(message);
