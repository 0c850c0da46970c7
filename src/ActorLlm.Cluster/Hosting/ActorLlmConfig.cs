using System.Reflection;
using Akka.Configuration;
using ActorLlm.Inference;
using ActorLlm.Protocol.Serialization;

namespace ActorLlm.Cluster.Hosting;

/// <summary>
/// Builds the one merged configuration of a node: command-line overrides, then ACTORLLM_* environment variables,
/// then a config file, then reference.conf (first wins), plus the serializer bindings.
/// </summary>
public static class ActorLlmConfig
{
    /// <summary>Environment variables that override settings, and the HOCON path each sets.</summary>
    public static readonly IReadOnlyDictionary<string, string> Environment = new Dictionary<string, string>
    {
        ["ACTORLLM_ROLES"] = "actorllm.node.roles",
        ["ACTORLLM_HOST"] = "actorllm.node.host",
        ["ACTORLLM_BIND"] = "actorllm.node.bind",
        ["ACTORLLM_PORT"] = "actorllm.node.port",
        ["ACTORLLM_SEEDS"] = "actorllm.node.seeds",
        ["ACTORLLM_MACHINE"] = "actorllm.node.machine",
        ["ACTORLLM_MODEL"] = "actorllm.model.store",
        ["ACTORLLM_CACHE_DIR"] = "actorllm.model.cache-dir",
        ["ACTORLLM_DEVICES"] = "actorllm.worker.devices",
        ["ACTORLLM_DTYPE"] = "actorllm.worker.dtype",
        ["ACTORLLM_REDUNDANCY"] = "actorllm.placement.redundancy",
        ["ACTORLLM_TLS"] = "actorllm.tls.enabled",
        ["ACTORLLM_TLS_CREDENTIALS"] = "actorllm.tls.credentials",
    };

    private static readonly HashSet<string> s_lists = ["actorllm.node.roles", "actorllm.node.seeds", "actorllm.worker.devices"];

    /// <summary>reference.conf as compiled into this assembly.</summary>
    public static Config Reference { get; } = LoadReference();

    /// <summary>
    /// Merges, highest priority first: <paramref name="overrides"/> (path → value, e.g. from the command line),
    /// the environment, the file at <paramref name="configFile"/>, reference.conf.
    /// </summary>
    public static Config Build(string? configFile, IReadOnlyDictionary<string, string>? overrides = null, Func<string, string?>? environment = null)
    {
        environment ??= System.Environment.GetEnvironmentVariable;
        var config = ConfigurationFactory.ParseString(ProtocolConfig.Hocon).WithFallback(Reference);
        if (configFile is not null)
        {
            if (!File.Exists(configFile))
            {
                throw new InvalidRequestException($"config file '{configFile}' not found");
            }

            config = Parse(File.ReadAllText(configFile), configFile).WithFallback(config);
        }

        var env = Environment
            .Select(p => (p.Value, Value: environment(p.Key)))
            .Where(p => !string.IsNullOrEmpty(p.Value))
            .ToDictionary(p => p.Item1, p => p.Value!);
        config = Overlay(env, "environment").WithFallback(config);
        if (overrides is not null)
        {
            config = Overlay(overrides, "command line").WithFallback(config);
        }

        return config;
    }

    /// <summary>Path → value pairs as HOCON; list settings take comma-separated values.</summary>
    public static Config Overlay(IReadOnlyDictionary<string, string> values, string source)
    {
        var lines = values.Select(p => s_lists.Contains(p.Key)
            ? $"{p.Key} = [{string.Join(", ", p.Value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(Quote))}]"
            : $"{p.Key} = {Quote(p.Value)}");
        return Parse(string.Join("\n", lines), source);
    }

    private static string Quote(string s) => "\"" + s.Replace("\\", "\\\\").Replace("\"", "\\\"") + "\"";

    private static Config Parse(string hocon, string source)
    {
        try
        {
            return ConfigurationFactory.ParseString(hocon);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            throw new InvalidRequestException($"{source}: invalid configuration: {e.Message}");
        }
    }

    private static Config LoadReference()
    {
        using var stream = Assembly.GetExecutingAssembly().GetManifestResourceStream("ActorLlm.reference.conf")
            ?? throw new InvalidOperationException("reference.conf is not embedded in ActorLlm.Cluster");
        using var reader = new StreamReader(stream);
        return ConfigurationFactory.ParseString(reader.ReadToEnd());
    }
}
