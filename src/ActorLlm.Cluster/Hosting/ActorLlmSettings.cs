using ActorLlm.Protocol.Messages;
using Akka.Configuration;
using ActorLlm.Cluster.Placement;
using ActorLlm.Cluster.Worker;
using ActorLlm.Cluster.Security.Tls;
using ActorLlm.Inference;
using ActorLlm.Protocol;
using ActorLlm.Protocol.Serialization;

namespace ActorLlm.Cluster.Hosting;

/// <summary>Node identity and membership (<c>actorllm.node</c>).</summary>
/// <param name="Host">The address advertised to the others; "" = the address of the route to the first seed (see <see cref="NodeAddressing"/>).</param>
/// <param name="Bind">The address the cluster port binds; "" = <paramref name="Host"/>.</param>
public sealed record NodeSettings(IReadOnlyList<string> Roles, string Host, int Port, IReadOnlyList<string> Seeds, string Machine, string Bind = "")
{
    public bool IsWorker => Roles.Contains(ActorLlmRoles.Worker);

    public bool IsGateway => Roles.Contains(ActorLlmRoles.Gateway);
}

/// <summary>Where the model comes from (<c>actorllm.model</c>); a worker without a store asks its peers.</summary>
public sealed record ModelSettings(string Store, string CacheDir, TimeSpan ManifestTimeout, TimeSpan ManifestRetry);

/// <summary>Stage workers (<c>actorllm.worker</c>).</summary>
/// <param name="DType">Null: auto (<see cref="Inference.Devices.DefaultDType"/>: the model's own on CUDA, f32 on the CPU).</param>
public sealed record WorkerSettings(
    IReadOnlyList<string> Devices,
    DType? DType,
    long MemoryLimit,
    int TorchThreads,
    int MaxSessions,
    int MaxContext,
    bool CudaGraphs,
    TimeSpan RegisterRetry,
    TimeSpan LoadReportInterval,
    TimeSpan DrainTimeout,
    TimeSpan DrainCheckInterval,
    int MaxTokensPerPass,
    TimeSpan ReleasedSessionMemory,
    TimeSpan SessionIdleTimeout,
    TimeSpan RegisterBackoffMax,
    long PinnableMemory,
    DeviceTrust Trust = DeviceTrust.Trusted,
    LieSettings? Lie = null);

/// <summary>The placement coordinator (<c>actorllm.placement</c>).</summary>
/// <param name="Claims">The most a volunteer's device may claim (<c>actorllm.placement.claims</c>).</param>
public sealed record PlacementSettings(
    int Redundancy,
    double MemoryHeadroom,
    TimeSpan Settle,
    TimeSpan UnreachableGrace,
    TimeSpan LoadTimeout,
    TimeSpan ResendInterval,
    TimeSpan FailedCooldown,
    ClaimCaps Claims);

/// <summary>Generation sessions (<c>actorllm.session</c>).</summary>
/// <param name="Ring">Decode steps loop from the route's last stage straight to its first (see StageMessages.Forward).</param>
/// <param name="Verification">Checking volunteers (<c>actorllm.verification</c>); null: off.</param>
public sealed record SessionSettings(TimeSpan StepTimeout, int MaxFailovers, int PrefillChunk, TimeSpan RouteWait, bool Ring, VerificationSettings? Verification = null)
{
    /// <summary>The verification settings; off when none were given.</summary>
    public VerificationSettings Verify => Verification ?? VerificationSettings.Off;
}

/// <summary>Checking what volunteers compute (<c>actorllm.verification</c>, see Session.Verification).</summary>
/// <param name="AuditEvery">Tokens generated through a volunteer between two audits (the first token is always audited at once).</param>
/// <param name="TopLogprobs">Most likely tokens both sides report per position.</param>
/// <param name="ToleranceF32">Largest difference of log-probabilities (nats) taken as honest when every device involved computes in f32.</param>
/// <param name="ToleranceReduced">The same when some device computes in bf16 or f16 (rounding moves log-probabilities much more).</param>
/// <param name="AuditTimeout">An audit with no answer for this long is sent again on another trusted route.</param>
public sealed record VerificationSettings(bool Enabled, int AuditEvery, int TopLogprobs, double ToleranceF32, double ToleranceReduced, TimeSpan AuditTimeout)
{
    public static VerificationSettings Off { get; } = new(false, 8, 8, 2e-3, 8, TimeSpan.FromSeconds(20));
}

/// <summary>The RouteCache on each gateway (<c>actorllm.route-cache</c>).</summary>
public sealed record RouteCacheSettings(TimeSpan SuspicionLapse, TimeSpan TableRequestInterval);

/// <summary>Pulling unit files from peers (<c>actorllm.fetch</c>).</summary>
/// <param name="ProgressInterval">How often a pull still under way logs its progress (bytes, rate, time left); 0 = only its end.</param>
public sealed record FetchSettings(int ChunkBytes, int Window, TimeSpan ChunkTimeout, TimeSpan ProgressInterval)
{
    internal static FetchSettings Read(SettingsReader reader) =>
        new(reader.IntBytes("fetch.chunk-bytes"), reader.Int("fetch.window"), reader.Time("fetch.chunk-timeout"), reader.Time("fetch.progress-interval"));

    internal FetchSettings Validate() =>
        ChunkBytes > 0 && Window > 0 && ChunkTimeout > TimeSpan.Zero && ProgressInterval >= TimeSpan.Zero
            ? this
            : throw new ArgumentException($"fetch.chunk-bytes, fetch.window and fetch.chunk-timeout must be positive, fetch.progress-interval not negative: {this}");
}

/// <summary>How a worker measures a device before registering it (<c>actorllm.probe</c>).</summary>
public sealed record ProbeSettings(
    double CpuMemoryFraction,
    double GpuMemoryFraction,
    int PromptTokens,
    int WarmupSteps,
    int TimedSteps,
    TimeSpan TimingBudget,
    int MinTimedSteps,
    TimeSpan NvidiaSmiTimeout)
{
    internal ProbeSettings Validate()
    {
        if (CpuMemoryFraction is not (> 0 and <= 1) || GpuMemoryFraction is not (> 0 and <= 1))
        {
            throw new ArgumentOutOfRangeException(
                nameof(CpuMemoryFraction), $"probe.cpu-memory-fraction and probe.gpu-memory-fraction must be in (0, 1], got {CpuMemoryFraction} and {GpuMemoryFraction}");
        }

        if (PromptTokens < 1 || WarmupSteps < 0 || TimedSteps < 1 || MinTimedSteps < 1 || TimingBudget <= TimeSpan.Zero || NvidiaSmiTimeout <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(
                nameof(PromptTokens), $"probe: prompt-tokens, timed-steps and min-timed-steps must be at least 1, warmup-steps at least 0, timing-budget and nvidia-smi-timeout positive: {this}");
        }

        return this;
    }
}

/// <summary>Cluster sharding of the sessions (<c>actorllm.sharding</c>); the same on every node.</summary>
public sealed record ShardingSettings(int SessionShards);

/// <summary>The pool's split-brain rule (<c>actorllm.downing</c>; ActorLlm.Cluster.Node.GatewayMajorityDowningProvider reads it from the actor system's config).</summary>
public sealed record DowningSettings(TimeSpan StableAfter, TimeSpan LonelyAfter);

/// <summary>Plain clients of a pool (<c>actorllm.client</c>).</summary>
public sealed record ClientSettings(TimeSpan StatusTimeout, TimeSpan StatusPollInterval);

/// <summary>The HTTP front door of a gateway (<c>actorllm.http</c>).</summary>
public sealed record HttpSettings(
    bool Enabled,
    string Host,
    int Port,
    bool Auth,
    string ApiKeysFile,
    string ApiKeysEnv,
    string ModelName,
    string ChatTemplate,
    long MaxBodyBytes,
    int MaxJobs,
    TimeSpan RetryAfter,
    TimeSpan JobTimeout,
    int MaxN,
    int DefaultMaxTokens,
    TimeSpan StatusInterval)
{
    internal static HttpSettings Read(SettingsReader r) => new(
        r.Bool("http.enabled"),
        r.Str("http.host"),
        r.Int("http.port"),
        r.Bool("http.auth"),
        r.Str("http.api-keys-file"),
        r.Str("http.api-keys-env"),
        r.Str("http.model-name"),
        r.Str("http.chat-template"),
        r.Bytes("http.max-body-bytes"),
        r.Int("http.max-jobs"),
        r.Time("http.retry-after"),
        r.Time("http.job-timeout"),
        r.Int("http.max-n"),
        r.Int("http.default-max-tokens"),
        r.Time("http.status-interval"));

    internal HttpSettings Validate()
    {
        if (Port is < 0 or > 65535)
        {
            throw new InvalidRequestException($"http.port {Port} is out of range");
        }

        if (MaxBodyBytes < 1 || MaxJobs < 1 || MaxN < 1 || DefaultMaxTokens < 1)
        {
            throw new InvalidRequestException("http.max-body-bytes, http.max-jobs, http.max-n and http.default-max-tokens must be positive");
        }

        if (RetryAfter <= TimeSpan.Zero || JobTimeout <= TimeSpan.Zero || StatusInterval <= TimeSpan.Zero)
        {
            throw new InvalidRequestException("http.retry-after, http.job-timeout and http.status-interval must be positive durations");
        }

        return this;
    }
}

/// <summary>
/// How a node logs (<c>actorllm.log</c>, and Akka's <c>akka.loglevel</c> for the level): see
/// <see cref="NodeLogging"/>.
/// </summary>
/// <param name="Json">One JSON object per line (Microsoft.Extensions.Logging's JSON console) instead of text.</param>
/// <param name="Level">The least severe level written, for Akka's lines, ours and ASP.NET Core's alike.</param>
/// <param name="AbuseWindow">A transport error (hostile bytes) is logged once per kind and peer per this long.</param>
public sealed record LogSettings(bool Json, Microsoft.Extensions.Logging.LogLevel Level = Microsoft.Extensions.Logging.LogLevel.Information, TimeSpan? AbuseWindow = null)
{
    /// <summary>Text lines at Information: what a process that has read no settings logs with.</summary>
    public static LogSettings Default { get; } = new(false);

    internal static LogSettings Read(SettingsReader r, Config config) => new(
        r.Str("log.format").Trim().ToLowerInvariant() switch
        {
            "text" => false,
            "json" => true,
            var other => throw new InvalidRequestException($"log.format must be text or json, got '{other}'"),
        },
        ParseLevel(config.GetString("akka.loglevel", "INFO")),
        r.Time("log.abuse-window") is { } w && w >= TimeSpan.Zero ? w : throw new ArgumentException("log.abuse-window must not be negative"));

    /// <summary>Akka's level names (akka.loglevel, `--log-level`) as Microsoft.Extensions.Logging levels.</summary>
    public static Microsoft.Extensions.Logging.LogLevel ParseLevel(string? level) => (level ?? "").Trim().ToUpperInvariant() switch
    {
        "DEBUG" => Microsoft.Extensions.Logging.LogLevel.Debug,
        "INFO" or "INFORMATION" => Microsoft.Extensions.Logging.LogLevel.Information,
        "WARNING" or "WARN" => Microsoft.Extensions.Logging.LogLevel.Warning,
        "ERROR" => Microsoft.Extensions.Logging.LogLevel.Error,
        "OFF" => Microsoft.Extensions.Logging.LogLevel.None,
        var other => throw new InvalidRequestException($"akka.loglevel (--log-level) must be DEBUG, INFO, WARNING, ERROR or OFF, got '{other}'"),
    };
}

/// <summary>The pool's certificates (<c>actorllm.pool</c>): see docs/security.md.</summary>
/// <param name="Dir">A pool directory made by `actorllm pool init` (the CA's); "" = none. A gateway given one serves the join endpoint.</param>
/// <param name="Credentials">This node's credential directory (ca.crt, node.crt, node.key): the setting, else <paramref name="Dir"/>, else $HOME/.actorllm/pool.</param>
/// <param name="HttpsHost">Where the join endpoint binds: the setting, else node.bind, else node.host ("" until the node resolves its addresses).</param>
public sealed record PoolSettings(string Dir, string Credentials, string HttpsHost, int HttpsPort, TimeSpan RenewBefore, TimeSpan JoinTimeout)
{
    internal static PoolSettings Read(SettingsReader r, string nodeHost)
    {
        string dir = r.Str("pool.dir").Trim();
        // One credential directory per node, shared by the join client and the TLS layer (tls.credentials).
        string credentials = r.Str("tls.credentials").Trim();
        string host = r.Str("pool.https-host").Trim();
        return new PoolSettings(
            dir,
            credentials.Length > 0 ? credentials : dir.Length > 0 ? dir : Security.PoolCredentials.DefaultDirectory,
            host.Length > 0 ? host : nodeHost,
            r.Int("pool.https-port"),
            r.Time("pool.renew-before"),
            r.Time("pool.join-timeout"));
    }

    internal PoolSettings Validate()
    {
        if (HttpsPort is < 0 or > 65535)
        {
            throw new InvalidRequestException($"pool.https-port {HttpsPort} is out of range");
        }

        if (RenewBefore <= TimeSpan.Zero || JoinTimeout <= TimeSpan.Zero)
        {
            throw new InvalidRequestException("pool.renew-before and pool.join-timeout must be positive durations");
        }

        return this;
    }
}

/// <summary>Cluster roles.</summary>
public static class ActorLlmRoles
{
    public const string Worker = "worker";
    public const string Gateway = "gateway";
}

/// <summary>
/// Everything a node is configured with, read once from the merged HOCON (reference.conf, then a config file,
/// environment, command line). The actor system is built from the same config. Every key is read without a
/// fallback in code: reference.conf is always merged underneath, so a missing key is a bug, refused with its name.
/// </summary>
public sealed record ActorLlmSettings(
    NodeSettings Node,
    ModelSettings Model,
    WorkerSettings Worker,
    PlacementSettings Placement,
    SessionSettings Session,
    WireLimits Wire,
    RouteCacheSettings RouteCache,
    FetchSettings Fetch,
    ProbeSettings Probe,
    ShardingSettings Sharding,
    DowningSettings Downing,
    ClientSettings Client,
    HttpSettings Http,
    LogSettings Log,
    PoolSettings Pool,
    TlsSettings Tls,
    Config Config)
{
    public const string SystemName = "actorllm";

    public static ActorLlmSettings From(Config config)
    {
        try
        {
            RefuseUnknownKeys(config);
            return Read(config).Validate();
        }
        catch (Exception e) when (e is FormatException or ConfigurationException or ArgumentException or OverflowException)
        {
            throw new InvalidRequestException($"invalid configuration: {e.Message}");
        }
    }

    private static ActorLlmSettings Read(Config config)
    {
        var reader = SettingsReader.Of(config);
        string Str(string path) => reader.Str(path);
        IReadOnlyList<string> List(string path) => reader.List(path);
        TimeSpan Time(string path) => reader.Time(path);
        long Bytes(string path) => reader.Bytes(path);
        int Int(string path) => reader.Int(path);
        double Double(string path) => reader.Double(path);

        var settings = new ActorLlmSettings(
            new NodeSettings(
                List("node.roles").Select(r => r.Trim().ToLowerInvariant()).Where(r => r.Length > 0).Distinct().ToArray(),
                NormalHost(Str("node.host")),
                Int("node.port"),
                [.. List("node.seeds").Select(NormalSeed)],
                Str("node.machine") is { Length: > 0 } m ? m : Environment.MachineName,
                NormalHost(Str("node.bind"))),
            new ModelSettings(
                Str("model.store"),
                Str("model.cache-dir") is { Length: > 0 } c ? c : DefaultCacheDir(),
                Time("model.manifest-timeout"),
                Time("model.manifest-retry")),
            new WorkerSettings(
                List("worker.devices"),
                Str("worker.dtype").Trim().Equals("auto", StringComparison.OrdinalIgnoreCase)
                    ? null
                    : DTypes.TryParse(Str("worker.dtype")) ?? throw new ConfigurationException($"actorllm.worker.dtype must be auto, f32, f16 or bf16, got '{Str("worker.dtype")}'"),
                Bytes("worker.memory-limit"),
                Int("worker.torch-threads"),
                Int("worker.max-sessions"),
                Int("worker.max-context"),
                reader.Bool("worker.cuda-graphs"),
                Time("worker.register-retry"),
                Time("worker.load-report-interval"),
                Time("worker.drain-timeout"),
                Time("worker.drain-check-interval"),
                Int("worker.max-tokens-per-pass"),
                Time("worker.released-session-memory"),
                Time("worker.session-idle-timeout"),
                Time("worker.register-backoff-max"),
                Bytes("worker.pinnable-memory"),
                Str("worker.trust").Trim().ToLowerInvariant() switch
                {
                    "trusted" => DeviceTrust.Trusted,
                    "volunteer" => DeviceTrust.Volunteer,
                    var t => throw new ConfigurationException($"actorllm.worker.trust must be trusted or volunteer, got '{t}'"),
                },
                ReadLie(reader)),
            new PlacementSettings(
                Int("placement.redundancy"),
                Double("placement.memory-headroom"),
                Time("placement.settle"),
                Time("placement.unreachable-grace"),
                Time("placement.load-timeout"),
                Time("placement.resend-interval"),
                Time("placement.failed-cooldown"),
                new ClaimCaps(Bytes("placement.claims.max-memory"), Double("placement.claims.max-speed"), Bytes("placement.claims.max-pinnable-memory"), Double("placement.claims.max-host-to-device"))),
            new SessionSettings(
                Time("session.step-timeout"),
                Int("session.max-failovers"),
                Int("session.prefill-chunk"),
                Time("session.route-wait"),
                reader.Bool("session.ring"),
                new VerificationSettings(
                    reader.Bool("verification.enabled"),
                    Int("verification.audit-every"),
                    Int("verification.top-logprobs"),
                    Double("verification.tolerance.f32"),
                    Double("verification.tolerance.reduced"),
                    Time("verification.audit-timeout"))),
            WireLimits.From(reader.Section("wire")),
            new RouteCacheSettings(Time("route-cache.suspicion-lapse"), Time("route-cache.table-request-interval")),
            FetchSettings.Read(reader),
            new ProbeSettings(
                Double("probe.cpu-memory-fraction"),
                Double("probe.gpu-memory-fraction"),
                Int("probe.prompt-tokens"),
                Int("probe.warmup-steps"),
                Int("probe.timed-steps"),
                Time("probe.timing-budget"),
                Int("probe.min-timed-steps"),
                Time("probe.nvidia-smi-timeout")),
            new ShardingSettings(Int("sharding.session-shards")),
            new DowningSettings(Time("downing.stable-after"), Time("downing.lonely-after")),
            new ClientSettings(Time("client.status-timeout"), Time("client.status-poll-interval")),
            HttpSettings.Read(reader),
            LogSettings.Read(reader, config),
            PoolSettings.Read(reader, NormalHost(Str("node.bind")) is { Length: > 0 } bind ? bind : NormalHost(Str("node.host"))),
            TlsSettings.Read(reader, PoolSettings.Read(reader, NormalHost(Str("node.host"))).Credentials),
            config);
        return settings;
    }

    private static LieSettings ReadLie(SettingsReader reader)
    {
        bool allowed = reader.Bool("testing.fault-injection");
        var mode = reader.Str("worker.lie.mode").Trim().ToLowerInvariant() switch
        {
            "none" => LieMode.None,
            "perturb" => LieMode.Perturb,
            "zeros" => LieMode.Zeros,
            "other-session" => LieMode.OtherSession,
            var m => throw new ConfigurationException($"actorllm.worker.lie.mode must be none, perturb, zeros or other-session, got '{m}'"),
        };
        if (mode != LieMode.None && !allowed)
        {
            throw new InvalidRequestException(
                "actorllm.worker.lie makes this worker corrupt every job routed through it; it exists for verification tests and is refused unless actorllm.testing.fault-injection = on as well");
        }

        return new LieSettings(mode, reader.Double("worker.lie.relative-size"), reader.Double("worker.lie.fraction"), reader.Int("worker.lie.seed"));
    }

    private ActorLlmSettings Validate()
    {
        string[] known = [ActorLlmRoles.Worker, ActorLlmRoles.Gateway];
        foreach (var role in Node.Roles.Where(r => !known.Contains(r)))
        {
            throw new InvalidRequestException($"unknown role '{role}' (roles: worker, gateway; none = a plain client)");
        }

        if (NodeAddressing.IsWildcard(Node.Host))
        {
            throw new InvalidRequestException(
                $"node.host '{Node.Host}' is the address this node gives the others, so it must be one they can reach, not a wildcard: give this machine's LAN address (e.g. --host 192.168.1.11), or leave --host out to use the address the route to the seed leaves from; to listen on every interface, give --bind {Node.Host}");
        }

        if (Worker.Lie is { } lie && (lie.Fraction is < 0 or > 1 || !double.IsFinite(lie.RelativeSize) || lie.RelativeSize < 0))
        {
            throw new InvalidRequestException($"actorllm.worker.lie: fraction must be in [0, 1] and relative-size at least 0, got {lie.Fraction} and {lie.RelativeSize}");
        }

        if (Session.Verify is { } v && (v.AuditEvery < 1 || v.TopLogprobs is < 1 or > WireSampling.MaxLogprobs || !double.IsFinite(v.ToleranceF32) || v.ToleranceF32 <= 0 || !double.IsFinite(v.ToleranceReduced) || v.ToleranceReduced < v.ToleranceF32 || v.AuditTimeout <= TimeSpan.Zero))
        {
            throw new InvalidRequestException(
                $"actorllm.verification: audit-every must be at least 1, top-logprobs 1..{WireSampling.MaxLogprobs}, tolerance.f32 and audit-timeout positive, tolerance.reduced at least tolerance.f32: {v}");
        }

        if (Worker.PinnableMemory < 0)
        {
            throw new InvalidRequestException($"worker.pinnable-memory must be at least 0 bytes, got {Worker.PinnableMemory}");
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

        if (Worker.MaxSessions < 1 || Worker.MaxContext < 1 || Worker.TorchThreads < 1 || Worker.MaxTokensPerPass < 1 || Session.PrefillChunk < 1 || Session.MaxFailovers < 0)
        {
            throw new InvalidRequestException("worker.max-sessions, worker.max-context, worker.torch-threads, worker.max-tokens-per-pass and session.prefill-chunk must be positive");
        }

        if (Placement.MemoryHeadroom is <= 0 or > 1)
        {
            throw new InvalidRequestException($"placement.memory-headroom must be in (0, 1], got {Placement.MemoryHeadroom}");
        }

        if (Placement.Claims.MaxPinnableBytes < 0 || !double.IsFinite(Placement.Claims.MaxHostToDeviceBytesPerSecond) || Placement.Claims.MaxHostToDeviceBytesPerSecond < 0)
        {
            throw new InvalidRequestException($"placement.claims.max-pinnable-memory and placement.claims.max-host-to-device must be at least 0, got {Placement.Claims.MaxPinnableBytes} bytes and {Placement.Claims.MaxHostToDeviceBytesPerSecond}");
        }

        if (Placement.Claims.MaxMemoryBytes < 1 || !double.IsFinite(Placement.Claims.MaxSpeed) || Placement.Claims.MaxSpeed <= 0)
        {
            throw new InvalidRequestException($"placement.claims.max-memory and placement.claims.max-speed must be positive, got {Placement.Claims.MaxMemoryBytes} bytes and {Placement.Claims.MaxSpeed}");
        }

        (string Key, TimeSpan Value)[] periods =
        [
            ("model.manifest-timeout", Model.ManifestTimeout), ("model.manifest-retry", Model.ManifestRetry),
            ("worker.register-retry", Worker.RegisterRetry), ("worker.load-report-interval", Worker.LoadReportInterval),
            ("worker.drain-check-interval", Worker.DrainCheckInterval), ("worker.released-session-memory", Worker.ReleasedSessionMemory),
            ("worker.session-idle-timeout", Worker.SessionIdleTimeout), ("worker.register-backoff-max", Worker.RegisterBackoffMax),
            ("placement.load-timeout", Placement.LoadTimeout),
            ("placement.resend-interval", Placement.ResendInterval), ("placement.failed-cooldown", Placement.FailedCooldown),
            ("session.step-timeout", Session.StepTimeout), ("session.route-wait", Session.RouteWait),
            ("route-cache.suspicion-lapse", RouteCache.SuspicionLapse), ("route-cache.table-request-interval", RouteCache.TableRequestInterval),
            ("downing.stable-after", Downing.StableAfter), ("downing.lonely-after", Downing.LonelyAfter),
            ("client.status-timeout", Client.StatusTimeout), ("client.status-poll-interval", Client.StatusPollInterval),
        ];
        foreach (var (key, value) in periods.Where(p => p.Value <= TimeSpan.Zero))
        {
            throw new InvalidRequestException($"{key} must be a positive duration, got {value}");
        }

        if (Wire.MaxPayloadBytes < 1 || Wire.MaxPromptBytes < 1 || Wire.MaxTokensPerStep < 1 || Wire.MaxChunkBytes < 1 || Wire.MaxChoices < 1)
        {
            throw new InvalidRequestException($"wire.* bounds must be positive: {Wire}");
        }

        if (Sharding.SessionShards < 1)
        {
            throw new InvalidRequestException($"sharding.session-shards must be at least 1, got {Sharding.SessionShards}");
        }

        _ = Fetch.Validate();
        _ = Http.Validate();
        _ = Pool.Validate();
        _ = Probe.Validate();

        return this;
    }

    /// <summary>
    /// "localhost" as 127.0.0.1: Akka addresses compare host names as text, so a seed given as localhost:4050 never
    /// matches a node that advertises 127.0.0.1:4050 (the join just times out).
    /// </summary>
    private static string NormalHost(string host) => host.Trim() is "localhost" ? "127.0.0.1" : host.Trim();

    private static string NormalSeed(string seed)
    {
        string s = seed.Trim();
        return s.StartsWith("localhost:", StringComparison.Ordinal) ? "127.0.0.1" + s["localhost".Length..] : s;
    }

    /// <summary>
    /// A key under <c>actorllm</c> that reference.conf does not define is a mistake (a typo is otherwise silently
    /// ignored and its default used): refused, naming the nearest key that exists.
    /// </summary>
    private static void RefuseUnknownKeys(Config config)
    {
        if (config.GetConfig("actorllm") is not { IsEmpty: false } section || ActorLlmConfig.Reference.GetConfig("actorllm") is not { IsEmpty: false } reference)
        {
            return;
        }

        var known = Leaves(reference.Root, "").ToHashSet(StringComparer.Ordinal);
        foreach (var key in Leaves(section.Root, "").Where(k => !known.Contains(k)))
        {
            string nearest = known.MinBy(k => EditDistance(k, key))!;
            throw new ConfigurationException($"unknown setting actorllm.{key}; did you mean actorllm.{nearest}? (config/reference.conf lists every setting)");
        }
    }

    private static IEnumerable<string> Leaves(Akka.Configuration.Hocon.HoconValue value, string prefix) =>
        value.IsObject()
            ? value.GetObject().Items.SelectMany(i => Leaves(i.Value, prefix.Length == 0 ? i.Key : $"{prefix}.{i.Key}"))
            : [prefix];

    /// <summary>Levenshtein distance, for suggesting the key a typo meant.</summary>
    private static int EditDistance(string a, string b)
    {
        var previous = Enumerable.Range(0, b.Length + 1).ToArray();
        for (int i = 1; i <= a.Length; i++)
        {
            var current = new int[b.Length + 1];
            current[0] = i;
            for (int j = 1; j <= b.Length; j++)
            {
                current[j] = Math.Min(Math.Min(current[j - 1] + 1, previous[j] + 1), previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1));
            }

            previous = current;
        }

        return previous[b.Length];
    }

    /// <summary>"host:port" to the Akka address of that node (plain TCP).</summary>
    public static string SeedAddress(string seed) => SeedAddress(seed, tls: false);

    /// <summary>"host:port" to the Akka address of that node: akka.ssl.tcp:// with <paramref name="tls"/>, else akka.tcp://.</summary>
    public static string SeedAddress(string seed, bool tls)
    {
        string s = seed.Trim();
        if (s.StartsWith("akka.tcp://", StringComparison.Ordinal) || s.StartsWith("akka.ssl.tcp://", StringComparison.Ordinal))
        {
            return s;
        }

        int colon = s.LastIndexOf(':');
        if (colon <= 0 || !int.TryParse(s.AsSpan(colon + 1), out int port) || port is <= 0 or > 65535)
        {
            throw new InvalidRequestException($"seed '{seed}' must be host:port");
        }

        return $"{(tls ? "akka.ssl.tcp" : "akka.tcp")}://{SystemName}@{s[..colon]}:{port}";
    }

    private static string DefaultCacheDir() =>
        Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "actorllm");
}
