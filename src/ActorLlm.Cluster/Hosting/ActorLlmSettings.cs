using Akka.Configuration;
using ActorLlm.Inference;

namespace ActorLlm.Cluster.Hosting;

/// <summary>Node identity and membership (<c>actorllm.node</c>).</summary>
public sealed record NodeSettings(IReadOnlyList<string> Roles, string Host, int Port, IReadOnlyList<string> Seeds, string Machine)
{
    public bool IsWorker => Roles.Contains(ActorLlmRoles.Worker);

    public bool IsGateway => Roles.Contains(ActorLlmRoles.Gateway);
}

/// <summary>Where the model comes from (<c>actorllm.model</c>).</summary>
public sealed record ModelSettings(string Store, string CacheDir);

/// <summary>Stage workers (<c>actorllm.worker</c>).</summary>
public sealed record WorkerSettings(
    IReadOnlyList<string> Devices,
    string DType,
    long MemoryLimit,
    int TorchThreads,
    int MaxSessions,
    int MaxContext,
    TimeSpan RegisterRetry,
    TimeSpan LoadReportInterval,
    TimeSpan DrainTimeout);

/// <summary>The placement coordinator (<c>actorllm.placement</c>).</summary>
public sealed record PlacementSettings(
    int Redundancy,
    double MemoryHeadroom,
    TimeSpan Settle,
    TimeSpan UnreachableGrace,
    TimeSpan LoadTimeout,
    TimeSpan ResendInterval,
    TimeSpan FailedCooldown);

/// <summary>Generation sessions (<c>actorllm.session</c>).</summary>
public sealed record SessionSettings(TimeSpan StepTimeout, int MaxFailovers, int PrefillChunk, TimeSpan RouteWait);

/// <summary>Cluster roles.</summary>
public static class ActorLlmRoles
{
    public const string Worker = "worker";
    public const string Gateway = "gateway";
}

/// <summary>
/// Everything a node is configured with, read once from the merged HOCON (reference.conf, then a config file,
/// environment, command line). The actor system is built from the same config.
/// </summary>
public sealed record ActorLlmSettings(
    NodeSettings Node,
    ModelSettings Model,
    WorkerSettings Worker,
    PlacementSettings Placement,
    SessionSettings Session,
    Config Config)
{
    public const string SystemName = "actorllm";

    public static ActorLlmSettings From(Config config)
    {
        try
        {
            return Read(config).Validate();
        }
        catch (Exception e) when (e is FormatException or ConfigurationException or ArgumentException or OverflowException)
        {
            throw new InvalidRequestException($"invalid configuration: {e.Message}");
        }
    }

    private static ActorLlmSettings Read(Config config)
    {
        var a = config.GetConfig("actorllm") ?? throw new InvalidRequestException("configuration has no actorllm section");
        string Str(string path) => a.GetString(path, "") ?? "";
        IReadOnlyList<string> List(string path) => [.. a.GetStringList(path, []) ?? []];
        TimeSpan Time(string path) => a.GetTimeSpan(path, null, allowInfinite: false);
        long Bytes(string path) => a.GetByteSize(path, 0) ?? 0;

        var settings = new ActorLlmSettings(
            new NodeSettings(
                List("node.roles").Select(r => r.Trim().ToLowerInvariant()).Where(r => r.Length > 0).Distinct().ToArray(),
                Str("node.host"),
                a.GetInt("node.port", 0),
                List("node.seeds"),
                Str("node.machine") is { Length: > 0 } m ? m : Environment.MachineName),
            new ModelSettings(Str("model.store"), Str("model.cache-dir") is { Length: > 0 } c ? c : DefaultCacheDir()),
            new WorkerSettings(
                List("worker.devices"),
                Str("worker.dtype"),
                Bytes("worker.memory-limit"),
                a.GetInt("worker.torch-threads", 1),
                a.GetInt("worker.max-sessions", 16),
                a.GetInt("worker.max-context", 2048),
                Time("worker.register-retry"),
                Time("worker.load-report-interval"),
                Time("worker.drain-timeout")),
            new PlacementSettings(
                a.GetInt("placement.redundancy"),
                a.GetDouble("placement.memory-headroom"),
                Time("placement.settle"),
                Time("placement.unreachable-grace"),
                Time("placement.load-timeout"),
                Time("placement.resend-interval"),
                Time("placement.failed-cooldown")),
            new SessionSettings(
                Time("session.step-timeout"),
                a.GetInt("session.max-failovers", 3),
                a.GetInt("session.prefill-chunk", 256),
                Time("session.route-wait")),
            config);
        return settings;
    }

    private ActorLlmSettings Validate()
    {
        string[] known = [ActorLlmRoles.Worker, ActorLlmRoles.Gateway];
        foreach (var role in Node.Roles.Where(r => !known.Contains(r)))
        {
            throw new InvalidRequestException($"unknown role '{role}' (roles: worker, gateway; none = a plain client)");
        }

        if (Node.Port is < 0 or > 65535)
        {
            throw new InvalidRequestException($"port {Node.Port} is out of range");
        }

        foreach (var seed in Node.Seeds)
        {
            _ = SeedAddress(seed);
        }

        if (Placement.Redundancy < 1)
        {
            throw new InvalidRequestException($"redundancy must be at least 1, got {Placement.Redundancy}");
        }

        if (Worker.MaxSessions < 1 || Worker.MaxContext < 1 || Worker.TorchThreads < 1 || Session.PrefillChunk < 1 || Session.MaxFailovers < 0)
        {
            throw new InvalidRequestException("worker.max-sessions, worker.max-context, worker.torch-threads and session.prefill-chunk must be positive");
        }

        if (Placement.MemoryHeadroom is <= 0 or > 1)
        {
            throw new InvalidRequestException($"placement.memory-headroom must be in (0, 1], got {Placement.MemoryHeadroom}");
        }

        return this;
    }

    /// <summary>"host:port" to the Akka address of that node.</summary>
    public static string SeedAddress(string seed)
    {
        string s = seed.Trim();
        if (s.StartsWith("akka.tcp://", StringComparison.Ordinal))
        {
            return s;
        }

        int colon = s.LastIndexOf(':');
        if (colon <= 0 || !int.TryParse(s.AsSpan(colon + 1), out int port) || port is <= 0 or > 65535)
        {
            throw new InvalidRequestException($"seed '{seed}' must be host:port");
        }

        return $"akka.tcp://{SystemName}@{s[..colon]}:{port}";
    }

    private static string DefaultCacheDir() =>
        Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "actorllm");
}
