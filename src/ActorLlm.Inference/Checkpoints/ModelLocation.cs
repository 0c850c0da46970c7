using System.Text.RegularExpressions;

namespace ActorLlm.Inference.Checkpoints;

/// <summary>
/// Where a model named on the command line or in the settings lives: a directory (a Hugging Face directory or a unit
/// store), a Hugging Face cache entry <c>models--ORG--NAME</c> (its snapshot), or <c>ORG/NAME</c> looked up in the
/// Hugging Face cache (<c>$HF_HUB_CACHE</c>, <c>$HF_HOME/hub</c>, <c>~/.cache/huggingface/hub</c>). Nothing is
/// downloaded: a model that is not there is an error naming every path looked at.
/// </summary>
public static partial class ModelLocation
{
    /// <summary>The directory of <paramref name="spec"/>; <paramref name="environment"/> reads variables (tests pass their own).</summary>
    public static string Resolve(string spec, Func<string, string?>? environment = null)
    {
        environment ??= Environment.GetEnvironmentVariable;
        if (Directory.Exists(spec))
        {
            return IsCacheEntry(spec) ? Snapshot(spec) : spec;
        }

        if (!RepoId().IsMatch(spec))
        {
            throw new ModelFormatException($"model directory '{spec}' does not exist");
        }

        string entry = "models--" + spec.Replace("/", "--", StringComparison.Ordinal);
        var looked = new List<string>();
        foreach (string root in HubCaches(environment))
        {
            string dir = Path.Combine(root, entry);
            if (Directory.Exists(dir))
            {
                return Snapshot(dir);
            }

            looked.Add(dir);
        }

        throw new ModelFormatException(
            $"model '{spec}' is neither a directory nor in the Hugging Face cache (looked at {string.Join(", ", looked)}); "
            + "download it there first (e.g. huggingface-cli download " + spec + ") or give its directory");
    }

    /// <summary>
    /// The model's name as the API shows it: the repository's name for <c>ORG/NAME</c>, a cache entry or one of its
    /// snapshots, else the directory's name.
    /// </summary>
    public static string DisplayName(string spec)
    {
        string trimmed = spec.TrimEnd('/', '\\');
        if (!Directory.Exists(trimmed) && RepoId().IsMatch(trimmed))
        {
            return trimmed[(trimmed.IndexOf('/') + 1)..];
        }

        var dir = new DirectoryInfo(trimmed);
        if (dir.Parent is { Name: "snapshots" } snapshots && snapshots.Parent is { } cacheEntry && cacheEntry.Name.StartsWith("models--", StringComparison.Ordinal))
        {
            dir = cacheEntry;
        }

        return dir.Name.StartsWith("models--", StringComparison.Ordinal) && dir.Name.LastIndexOf("--", StringComparison.Ordinal) is int i and > 6
            ? dir.Name[(i + 2)..]
            : dir.Name;
    }

    /// <summary>The Hugging Face hub caches to look in, in order: $HF_HUB_CACHE, $HF_HOME/hub, ~/.cache/huggingface/hub.</summary>
    public static IReadOnlyList<string> HubCaches(Func<string, string?> environment)
    {
        var roots = new List<string>();
        if (environment("HF_HUB_CACHE") is { Length: > 0 } hub)
        {
            roots.Add(hub);
        }

        if (environment("HF_HOME") is { Length: > 0 } home)
        {
            roots.Add(Path.Combine(home, "hub"));
        }

        string user = environment("HOME") is { Length: > 0 } h ? h : Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        roots.Add(Path.Combine(user, ".cache", "huggingface", "hub"));
        return roots.Distinct(StringComparer.Ordinal).ToList();
    }

    private static bool IsCacheEntry(string dir) =>
        new DirectoryInfo(dir.TrimEnd('/', '\\')).Name.StartsWith("models--", StringComparison.Ordinal) && Directory.Exists(Path.Combine(dir, "snapshots"));

    /// <summary>The snapshot of a cache entry: the one <c>refs/main</c> names, else the only (or newest) one.</summary>
    private static string Snapshot(string entry)
    {
        string snapshots = Path.Combine(entry, "snapshots");
        string main = Path.Combine(entry, "refs", "main");
        if (File.Exists(main))
        {
            string revision = File.ReadAllText(main).Trim();
            string named = Path.Combine(snapshots, revision);
            if (revision.Length == 0 || revision.Contains('/') || revision.Contains('\\') || !Directory.Exists(named))
            {
                throw new ModelFormatException($"{main} names revision '{revision}', but {named} does not exist (an interrupted download?)");
            }

            return named;
        }

        var all = Directory.Exists(snapshots) ? new DirectoryInfo(snapshots).GetDirectories() : [];
        if (all.Length == 0)
        {
            throw new ModelFormatException($"{entry} has no snapshot (looked for {main} and in {snapshots}): an interrupted download?");
        }

        return all.OrderByDescending(d => d.LastWriteTimeUtc).ThenBy(d => d.Name, StringComparer.Ordinal).First().FullName;
    }

    /// <summary>A Hugging Face repository id: ORG/NAME of letters, digits, '-', '_' and '.'.</summary>
    [GeneratedRegex(@"^[A-Za-z0-9][A-Za-z0-9_.\-]*/[A-Za-z0-9][A-Za-z0-9_.\-]*$")]
    private static partial Regex RepoId();
}
