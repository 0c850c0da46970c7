using Akka.Configuration;

namespace ActorLlm.Cluster.Hosting;

/// <summary>
/// Typed reads of the <c>actorllm</c> section with no fallback values: reference.conf is merged underneath every
/// configuration, so a key that is missing is a bug, and the read fails with the key's full name.
/// </summary>
internal sealed class SettingsReader
{
    private const string Root = "actorllm";
    private readonly Config _section;

    private SettingsReader(Config section) => _section = section;

    /// <summary>A reader of <paramref name="config"/>'s <c>actorllm</c> section.</summary>
    public static SettingsReader Of(Config config) =>
        new(config.GetConfig(Root) is { IsEmpty: false } section ? section : throw new ConfigurationException($"configuration has no {Root} section"));

    public string Str(string path) => _section.GetString(Need(path)) ?? "";

    public IReadOnlyList<string> List(string path) => [.. _section.GetStringList(Need(path)) ?? []];

    public int Int(string path) => _section.GetInt(Need(path));

    public double Double(string path) => _section.GetDouble(Need(path));

    public bool Bool(string path) => _section.GetBoolean(Need(path));

    public TimeSpan Time(string path) => _section.GetTimeSpan(Need(path), null, allowInfinite: false);

    /// <summary>A size (HOCON units allowed: 1 MiB).</summary>
    public long Bytes(string path) => _section.GetByteSize(Need(path)) ?? throw new ConfigurationException($"{Root}.{path} is not a size");

    /// <summary>A size that must fit an <see cref="int"/>.</summary>
    public int IntBytes(string path)
    {
        long bytes = Bytes(path);
        return bytes <= int.MaxValue ? (int)bytes : throw new ConfigurationException($"{Root}.{path} is {bytes} bytes, more than {int.MaxValue}");
    }

    /// <summary>A whole subsection, e.g. <c>wire</c>.</summary>
    public Config Section(string path) => _section.GetConfig(Need(path));

    private string Need(string path) =>
        _section.HasPath(path) ? path : throw new ConfigurationException($"{Root}.{path} is missing (reference.conf defines every key, so this is a bug)");
}
