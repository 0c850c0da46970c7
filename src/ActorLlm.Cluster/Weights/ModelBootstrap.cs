using System.Text;
using ActorLlm.Inference;
using ActorLlm.Inference.Checkpoints;

namespace ActorLlm.Cluster.Weights;

/// <summary>
/// Gets a node a local <see cref="UnitStore"/> to serve from: from a model directory on this machine
/// (<see cref="PrepareLocalStore"/>), or, on a node with no model at all, from a peer's manifest
/// (<see cref="CreateStoreFromPeersAsync"/>), after which units are pulled one by one with <see cref="UnitFetcher"/>.
/// </summary>
public static partial class ModelBootstrap
{
    /// <summary>
    /// The store for <paramref name="modelDir"/>: a unit store is opened as it is; a Hugging Face directory is
    /// converted once into <see cref="ConvertedStoreDirectory"/> under <paramref name="cacheDir"/> and that store is
    /// opened (and reused by every later call while the checkpoint is unchanged). The conversion is written to a
    /// hidden directory and renamed into place when complete, so an interrupted one never leaves a half store where
    /// the next start would look.
    /// </summary>
    public static UnitStore PrepareLocalStore(string modelDir, string cacheDir, Action<string>? log = null)
    {
        if (!Directory.Exists(modelDir))
        {
            throw new ModelFormatException($"model directory '{modelDir}' does not exist");
        }

        if (UnitStore.IsStore(modelDir))
        {
            var store = UnitStore.Open(modelDir);
            log?.Invoke($"{modelDir}: unit store, {store.PresentUnits().Count} of {store.UnitCount} units present");
            return store;
        }

        string target = ConvertedStoreDirectory(modelDir, cacheDir);
        if (UnitStore.IsStore(target))
        {
            var store = UnitStore.Open(target);
            log?.Invoke($"{modelDir}: using the unit store converted earlier at {target} ({store.PresentUnits().Count} of {store.UnitCount} units present)");
            return store;
        }

        Directory.CreateDirectory(cacheDir);
        string work = Path.Combine(cacheDir, $".{Path.GetFileName(target)}.{Guid.NewGuid():N}.converting");
        log?.Invoke($"{modelDir}: converting into a unit store at {target} (once; later starts reuse it)");
        try
        {
            var result = UnitStoreWriter.Convert(modelDir, work);
            try
            {
                Directory.Move(work, target);
            }
            catch (IOException) when (UnitStore.IsStore(target))
            {
                // Another process on this machine converted the same checkpoint meanwhile; its store is as good.
                log?.Invoke($"{target}: converted concurrently by another process; using that one");
            }

            log?.Invoke($"{target}: {result.Units} units, {result.Bytes} bytes in {result.Elapsed.TotalSeconds:0.0} s");
        }
        finally
        {
            if (Directory.Exists(work))
            {
                Directory.Delete(work, recursive: true);
            }
        }

        return UnitStore.Open(target);
    }

    /// <summary>
    /// Where <see cref="PrepareLocalStore"/> keeps the store converted from <paramref name="hfDir"/>:
    /// <c>cacheDir/&lt;directory name&gt;-&lt;fingerprint&gt;</c>. The fingerprint covers config.json and each
    /// safetensors file's name, size and modification time (not their contents: hashing gigabytes on every start
    /// is what the cache avoids), so a checkpoint replaced in place, or another one in a directory of the same name,
    /// gets a store of its own instead of a stale one.
    /// </summary>
    public static string ConvertedStoreDirectory(string hfDir, string cacheDir)
    {
        var dir = new DirectoryInfo(Path.GetFullPath(hfDir));
        var text = new StringBuilder("actorllm-converted-v1\n");
        string config = Path.Combine(dir.FullName, UnitStore.ConfigFile);
        text.Append(File.Exists(config) ? FileDigest.Sha256(File.ReadAllBytes(config)) : "no-config").Append('\n');
        foreach (var f in dir.EnumerateFiles("*.safetensors*").OrderBy(f => f.Name, StringComparer.Ordinal))
        {
            text.Append(f.Name).Append(' ').Append(f.Length).Append(' ').Append(f.LastWriteTimeUtc.Ticks).Append('\n');
        }

        string fingerprint = FileDigest.Sha256(Encoding.UTF8.GetBytes(text.ToString()))[..12];
        return Path.Combine(cacheDir, $"{SafeName(dir.Name, "model")}-{fingerprint}");
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
