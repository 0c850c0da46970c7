using ActorLlm.Cluster.Hosting;
using ActorLlm.Cluster.Placement;
using ActorLlm.Inference;
using ActorLlm.Protocol;
using ActorLlm.Protocol.Messages;
using ActorLlm.Protocol.Serialization;
using Akka.Configuration;
using Akka.Configuration.Hocon;
using Xunit;

namespace ActorLlm.Cluster.Tests.Hosting;

/// <summary>
/// reference.conf's defaults (every key under actorllm pinned, and each read without a fallback in code), the
/// override order, and refusal of bad settings.
/// </summary>
public sealed class ConfigTests
{
    private static ActorLlmSettings Defaults() => ActorLlmSettings.From(ActorLlmConfig.Build(null, null, _ => null));

    [Fact]
    public void Defaults_are_pinned()
    {
        var s = Defaults();
        Assert.Equal(["worker"], s.Node.Roles);
        Assert.Equal("", s.Node.Host);     // detected from the route to the first seed (NodeAddressing)
        Assert.Equal("", s.Node.Bind);     // the advertised host
        Assert.Equal(0, s.Node.Port);
        Assert.Empty(s.Node.Seeds);
        Assert.Equal(Environment.MachineName, s.Node.Machine);
        Assert.Equal(["cpu"], s.Worker.Devices);
        Assert.Null(s.Worker.DType);
        Assert.Equal(0, s.Worker.MemoryLimit);
        Assert.Equal(1, s.Worker.TorchThreads);
        Assert.Equal(16, s.Worker.MaxSessions);
        Assert.Equal(2048, s.Worker.MaxContext);
        Assert.Equal(TimeSpan.FromSeconds(1), s.Worker.RegisterRetry);
        Assert.Equal(TimeSpan.FromSeconds(2), s.Worker.LoadReportInterval);
        Assert.Equal(TimeSpan.FromSeconds(60), s.Worker.DrainTimeout);
        Assert.Equal(TimeSpan.FromSeconds(1), s.Worker.DrainCheckInterval);
        Assert.Equal(512, s.Worker.MaxTokensPerPass);
        Assert.Equal(TimeSpan.FromSeconds(60), s.Worker.ReleasedSessionMemory);
        Assert.Equal(TimeSpan.FromSeconds(120), s.Worker.SessionIdleTimeout);
        Assert.Equal(TimeSpan.FromSeconds(60), s.Worker.RegisterBackoffMax);
        Assert.Equal(0, s.Worker.PinnableMemory);
        Assert.Equal(DeviceTrust.Trusted, s.Worker.Trust);
        Assert.Equal(1, s.Placement.Redundancy);
        Assert.Equal(0.9, s.Placement.MemoryHeadroom);
        Assert.Equal(TimeSpan.FromMilliseconds(500), s.Placement.Settle);
        Assert.Equal(TimeSpan.FromSeconds(3), s.Placement.UnreachableGrace);
        Assert.Equal(TimeSpan.FromMinutes(10), s.Placement.LoadTimeout);
        Assert.Equal(TimeSpan.FromSeconds(3), s.Placement.ResendInterval);
        Assert.Equal(TimeSpan.FromSeconds(60), s.Placement.FailedCooldown);
        Assert.Equal(new ClaimCaps(192L * 1024 * 1024 * 1024, 100_000), s.Placement.Claims);
        Assert.Equal(ClaimCaps.Default, s.Placement.Claims);
        Assert.Equal(TimeSpan.FromSeconds(20), s.Session.StepTimeout);
        Assert.Equal(3, s.Session.MaxFailovers);
        Assert.Equal(256, s.Session.PrefillChunk);
        Assert.Equal(TimeSpan.FromSeconds(60), s.Session.RouteWait);
        Assert.Equal(TimeSpan.FromSeconds(10), s.Model.ManifestTimeout);
        Assert.Equal(TimeSpan.FromSeconds(2), s.Model.ManifestRetry);
        Assert.Equal(new WireLimits(6L * 1024 * 1024, 1024 * 1024, 32768, 4 * 1024 * 1024, 256), s.Wire);
        Assert.Equal(new RouteCacheSettings(TimeSpan.FromSeconds(20), TimeSpan.FromSeconds(1)), s.RouteCache);
        Assert.Equal(new FetchSettings(1024 * 1024, 4, TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(5)), s.Fetch);
        Assert.Equal(new ProbeSettings(0.5, 1.0, 8, 3, 15, TimeSpan.FromSeconds(2), 3, TimeSpan.FromSeconds(10)), s.Probe);
        Assert.Equal(new ShardingSettings(64), s.Sharding);
        Assert.Equal(new DowningSettings(TimeSpan.FromSeconds(7), TimeSpan.FromSeconds(30)), s.Downing);
        Assert.Equal(new ClientSettings(TimeSpan.FromSeconds(5), TimeSpan.FromMilliseconds(250)), s.Client);

        var akka = s.Config;
        Assert.Equal("cluster", akka.GetString("akka.actor.provider"));
        Assert.Equal("ActorLlm.Cluster.Node.GatewayMajorityDowningProvider, ActorLlm.Cluster", akka.GetString("akka.cluster.downing-provider-class"));
        Assert.NotNull(Type.GetType(akka.GetString("akka.cluster.downing-provider-class")));
        Assert.Equal(TimeSpan.FromSeconds(7), akka.GetTimeSpan("actorllm.downing.stable-after"));
        Assert.Equal(TimeSpan.FromSeconds(4), akka.GetTimeSpan("akka.cluster.failure-detector.acceptable-heartbeat-pause"));
        Assert.Equal(10.0, akka.GetDouble("akka.cluster.failure-detector.threshold"));
        Assert.Equal(8L * 1024 * 1024, akka.GetByteSize("akka.remote.dot-netty.tcp.maximum-frame-size"));
        Assert.False(akka.GetBoolean("akka.coordinated-shutdown.exit-clr"));
        Assert.False(akka.GetBoolean("akka.coordinated-shutdown.run-by-clr-shutdown-hook"));
        Assert.Equal("gateway", akka.GetString("akka.cluster.sharding.role"));
        Assert.Equal("PinnedDispatcher", akka.GetString("actorllm.stage-dispatcher.type"));
        Assert.Equal("actorllm", akka.GetString("akka.actor.serialization-bindings.\"ActorLlm.Protocol.IActorLlmMessage, ActorLlm.Protocol\""));
    }

    [Fact]
    public void Command_line_beats_environment_beats_file_beats_reference()
    {
        string file = Path.GetTempFileName();
        try
        {
            File.WriteAllText(file, "actorllm.node.port = 4000\nactorllm.node.machine = from-file\nactorllm.placement.redundancy = 3\nactorllm.worker.devices = [\"cuda:0\"]");
            var env = new Dictionary<string, string> { ["ACTORLLM_PORT"] = "5000", ["ACTORLLM_SEEDS"] = "10.0.0.1:4000, 10.0.0.2:4000" };
            var cli = new Dictionary<string, string> { ["actorllm.node.port"] = "6000" };
            var s = ActorLlmSettings.From(ActorLlmConfig.Build(file, cli, k => env.GetValueOrDefault(k)));
            Assert.Equal(6000, s.Node.Port);
            Assert.Equal(["10.0.0.1:4000", "10.0.0.2:4000"], s.Node.Seeds);
            Assert.Equal("from-file", s.Node.Machine);
            Assert.Equal(3, s.Placement.Redundancy);
            Assert.Equal(["cuda:0"], s.Worker.Devices);
            Assert.Equal(16, s.Worker.MaxSessions);
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Theory]
    [InlineData("auto", null)]
    [InlineData("AUTO", null)]
    [InlineData("bf16", DType.BF16)]
    [InlineData("f32", DType.F32)]
    public void Worker_dtype_auto_leaves_it_to_the_device_and_the_model(string value, DType? expected)
    {
        var settings = ActorLlmSettings.From(ActorLlmConfig.Build(null, new Dictionary<string, string> { ["actorllm.worker.dtype"] = value }, _ => null));
        Assert.Equal(expected, settings.Worker.DType);
    }

    [Theory]
    [InlineData("actorllm.node.roles", "cook", "unknown role")]
    [InlineData("actorllm.node.seeds", "nohost", "host:port")]
    [InlineData("actorllm.node.port", "70000", "out of range")]
    [InlineData("actorllm.placement.redundancy", "0", "redundancy")]
    [InlineData("actorllm.fetch.window", "0", "fetch.window")]
    [InlineData("actorllm.probe.cpu-memory-fraction", "1.5", "probe.cpu-memory-fraction")]
    [InlineData("actorllm.sharding.session-shards", "0", "sharding.session-shards")]
    [InlineData("actorllm.route-cache.suspicion-lapse", "0s", "route-cache")]
    [InlineData("actorllm.fetch.chunk-bytes", "4 GiB", "fetch.chunk-bytes")]
    [InlineData("actorllm.wire.max-chunk-bytes", "4 GiB", "wire.max-chunk-bytes")]
    [InlineData("actorllm.session.step-timeout", "soon", "invalid configuration")]
    [InlineData("actorllm.placement.memory-headroom", "1.5", "memory-headroom")]
    [InlineData("actorllm.worker.dtype", "int8", "worker.dtype must be auto, f32, f16 or bf16")]
    [InlineData("actorllm.placement.resend-interval", "0s", "placement.resend-interval must be a positive duration")]
    [InlineData("actorllm.worker.drain-check-interval", "0s", "worker.drain-check-interval must be a positive duration")]
    [InlineData("actorllm.worker.max-tokens-per-pass", "0", "worker.max-tokens-per-pass")]
    [InlineData("actorllm.worker.released-session-memory", "0s", "worker.released-session-memory must be a positive duration")]
    [InlineData("actorllm.worker.session-idle-timeout", "0s", "worker.session-idle-timeout must be a positive duration")]
    [InlineData("actorllm.worker.register-backoff-max", "0s", "worker.register-backoff-max must be a positive duration")]
    [InlineData("actorllm.worker.trust", "root", "worker.trust must be trusted or volunteer")]
    [InlineData("actorllm.placement.claims.max-memory", "0", "placement.claims.max-memory and placement.claims.max-speed must be positive")]
    [InlineData("actorllm.placement.claims.max-speed", "0", "placement.claims.max-memory and placement.claims.max-speed must be positive")]
    [InlineData("actorllm.placement.claims.max-speed", "-5", "placement.claims.max-memory and placement.claims.max-speed must be positive")]
    public void Bad_settings_are_refused_with_the_reason(string path, string value, string expected)
    {
        var error = Assert.Throws<InvalidRequestException>(() =>
            ActorLlmSettings.From(ActorLlmConfig.Build(null, new Dictionary<string, string> { [path] = value }, _ => null)));
        Assert.Contains(expected, error.Message);
    }

    [Fact]
    public void A_missing_or_malformed_config_file_is_refused()
    {
        Assert.Contains("not found", Assert.Throws<InvalidRequestException>(() => ActorLlmConfig.Build("/nonexistent.conf")).Message);
        string file = Path.GetTempFileName();
        try
        {
            File.WriteAllText(file, "actorllm { node { port = not-a-number } }");
            Assert.Contains("invalid configuration", Assert.Throws<InvalidRequestException>(() => ActorLlmSettings.From(ActorLlmConfig.Build(file, null, _ => null))).Message);
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public void Seeds_become_akka_addresses()
    {
        Assert.Equal("akka.tcp://actorllm@10.1.2.3:4050", ActorLlmSettings.SeedAddress("10.1.2.3:4050"));
        Assert.Equal("akka.tcp://actorllm@host:1", ActorLlmSettings.SeedAddress("akka.tcp://actorllm@host:1"));
    }

    /// <summary>A size in bytes, as HOCON reads "1 MiB".</summary>
    private sealed record Size(long Bytes);

    /// <summary>
    /// Every leaf key under <c>actorllm</c> in reference.conf and its value there. A key added to reference.conf
    /// without a line here fails <see cref="Every_actorllm_key_in_reference_conf_is_pinned"/>.
    /// </summary>
    private static readonly Dictionary<string, object> s_pinned = new()
    {
        ["node.roles"] = new[] { "worker" },
        ["node.host"] = "",
        ["node.bind"] = "",
        ["node.port"] = 0,
        ["node.seeds"] = Array.Empty<string>(),
        ["node.machine"] = "",
        ["model.store"] = "",
        ["model.cache-dir"] = "",
        ["model.manifest-timeout"] = TimeSpan.FromSeconds(10),
        ["model.manifest-retry"] = TimeSpan.FromSeconds(2),
        ["worker.devices"] = new[] { "cpu" },
        ["worker.dtype"] = "auto",
        ["worker.memory-limit"] = new Size(0),
        ["worker.pinnable-memory"] = new Size(0),
        ["worker.trust"] = "trusted",
        ["worker.torch-threads"] = 1,
        ["worker.max-sessions"] = 16,
        ["worker.max-context"] = 2048,
        ["worker.cuda-graphs"] = true,
        ["worker.register-retry"] = TimeSpan.FromSeconds(1),
        ["worker.load-report-interval"] = TimeSpan.FromSeconds(2),
        ["worker.drain-timeout"] = TimeSpan.FromSeconds(60),
        ["worker.drain-check-interval"] = TimeSpan.FromSeconds(1),
        ["worker.max-tokens-per-pass"] = 512,
        ["worker.released-session-memory"] = TimeSpan.FromSeconds(60),
        ["worker.session-idle-timeout"] = TimeSpan.FromSeconds(120),
        ["worker.register-backoff-max"] = TimeSpan.FromSeconds(60),
        ["downing.stable-after"] = TimeSpan.FromSeconds(7),
        ["downing.lonely-after"] = TimeSpan.FromSeconds(30),
        ["placement.redundancy"] = 1,
        ["placement.memory-headroom"] = 0.9,
        ["placement.settle"] = TimeSpan.FromMilliseconds(500),
        ["placement.unreachable-grace"] = TimeSpan.FromSeconds(3),
        ["placement.load-timeout"] = TimeSpan.FromMinutes(10),
        ["placement.resend-interval"] = TimeSpan.FromSeconds(3),
        ["placement.failed-cooldown"] = TimeSpan.FromSeconds(60),
        ["placement.claims.max-memory"] = new Size(192L * 1024 * 1024 * 1024),
        ["placement.claims.max-speed"] = 100000,
        ["placement.claims.max-pinnable-memory"] = new Size(512L * 1024 * 1024 * 1024),
        ["placement.claims.max-host-to-device"] = 128e9,
        ["session.step-timeout"] = TimeSpan.FromSeconds(20),
        ["session.max-failovers"] = 3,
        ["session.prefill-chunk"] = 256,
        ["session.route-wait"] = TimeSpan.FromSeconds(60),
        ["session.ring"] = true,
        ["wire.max-payload-bytes"] = new Size(6L * 1024 * 1024),
        ["wire.max-prompt-bytes"] = new Size(1024 * 1024),
        ["wire.max-tokens-per-step"] = 32768,
        ["wire.max-chunk-bytes"] = new Size(4 * 1024 * 1024),
        ["wire.max-choices"] = 256,
        ["route-cache.suspicion-lapse"] = TimeSpan.FromSeconds(20),
        ["route-cache.table-request-interval"] = TimeSpan.FromSeconds(1),
        ["fetch.chunk-bytes"] = new Size(1024 * 1024),
        ["fetch.window"] = 4,
        ["fetch.chunk-timeout"] = TimeSpan.FromSeconds(10),
        ["fetch.progress-interval"] = TimeSpan.FromSeconds(5),
        ["probe.cpu-memory-fraction"] = 0.5,
        ["probe.gpu-memory-fraction"] = 1.0,
        ["probe.prompt-tokens"] = 8,
        ["probe.warmup-steps"] = 3,
        ["probe.timed-steps"] = 15,
        ["probe.timing-budget"] = TimeSpan.FromSeconds(2),
        ["probe.min-timed-steps"] = 3,
        ["probe.nvidia-smi-timeout"] = TimeSpan.FromSeconds(10),
        ["sharding.session-shards"] = 64,
        ["log.format"] = "text",
        ["log.abuse-window"] = TimeSpan.FromSeconds(60),
        ["tls.enabled"] = true,
        ["tls.credentials"] = "",
        ["http.enabled"] = true,
        ["http.host"] = "127.0.0.1",
        ["http.port"] = 8080,
        ["http.auth"] = true,
        ["http.api-keys-file"] = "",
        ["http.api-keys-env"] = "ACTORLLM_API_KEYS",
        ["http.model-name"] = "",
        ["http.chat-template"] = "",
        ["http.max-body-bytes"] = new Size(1024 * 1024),
        ["http.max-jobs"] = 256,
        ["http.retry-after"] = TimeSpan.FromSeconds(1),
        ["http.job-timeout"] = TimeSpan.FromMinutes(10),
        ["http.max-n"] = 16,
        ["http.default-max-tokens"] = 256,
        ["http.status-interval"] = TimeSpan.FromSeconds(1),
        ["pool.dir"] = "",
        ["pool.https-host"] = "",
        ["pool.https-port"] = 4443,
        ["pool.renew-before"] = TimeSpan.FromDays(7),
        ["pool.join-timeout"] = TimeSpan.FromSeconds(30),
        ["client.status-timeout"] = TimeSpan.FromSeconds(5),
        ["client.status-poll-interval"] = TimeSpan.FromMilliseconds(250),
        ["worker.lie.mode"] = "none",
        ["worker.lie.relative-size"] = 1.0,
        ["worker.lie.fraction"] = 1.0,
        ["worker.lie.seed"] = 0,
        ["verification.enabled"] = false,
        ["verification.audit-every"] = 8,
        ["verification.top-logprobs"] = 8,
        ["verification.tolerance.f32"] = 2e-3,
        ["verification.tolerance.reduced"] = 8.0,
        ["verification.audit-timeout"] = TimeSpan.FromSeconds(20),
        ["testing.fault-injection"] = false,
        ["stage-dispatcher.type"] = "PinnedDispatcher",
        ["stage-dispatcher.executor"] = "thread-pool-executor",
    };

    /// <summary>The keys Akka reads itself rather than <see cref="ActorLlmSettings"/>.</summary>
    private static readonly string[] s_readByAkka = ["stage-dispatcher.type", "stage-dispatcher.executor"];

    public static TheoryData<string> SettingsKeys => [.. s_pinned.Keys.Except(s_readByAkka)];

    [Fact]
    public void Every_actorllm_key_in_reference_conf_is_pinned()
    {
        var keys = Leaves(ActorLlmConfig.Reference.GetConfig("actorllm").Root, "").ToHashSet();
        Assert.True(keys.SetEquals(s_pinned.Keys), $"not pinned: [{string.Join(", ", keys.Except(s_pinned.Keys))}]; pinned but not in reference.conf: [{string.Join(", ", s_pinned.Keys.Except(keys))}]");

        var a = ActorLlmConfig.Reference.GetConfig("actorllm");
        var wrong = s_pinned
            .Select(p => (p.Key, Actual: Read(a, p.Key, p.Value), Pinned: p.Value))
            .Where(p => !Equals(p.Actual, p.Pinned) && !(p.Actual is string[] x && p.Pinned is string[] y && x.SequenceEqual(y)))
            .Select(p => $"actorllm.{p.Key} = {Show(p.Actual)}, pinned {Show(p.Pinned)}");
        Assert.Empty(wrong);
    }

    [Fact]
    public void The_credential_directory_is_the_pool_directory_when_set_and_the_join_endpoint_binds_the_node_host()
    {
        ActorLlmSettings With(params (string Key, string Value)[] pairs) =>
            ActorLlmSettings.From(ActorLlmConfig.Build(null, pairs.ToDictionary(p => p.Key, p => p.Value), _ => null));
        var plain = With(("actorllm.node.host", "10.0.0.5"));
        Assert.Equal(ActorLlm.Cluster.Security.PoolCredentials.DefaultDirectory, plain.Pool.Credentials);
        Assert.Equal("10.0.0.5", plain.Pool.HttpsHost);
        Assert.Equal("/srv/pool", With(("actorllm.pool.dir", "/srv/pool")).Pool.Credentials);
        Assert.Equal("/creds", With(("actorllm.pool.dir", "/srv/pool"), ("actorllm.tls.credentials", "/creds")).Pool.Credentials);
        Assert.Equal("/creds", With(("actorllm.pool.dir", "/srv/pool"), ("actorllm.tls.credentials", "/creds")).Tls.Credentials);
        Assert.Equal("/srv/pool", With(("actorllm.pool.dir", "/srv/pool")).Tls.Credentials);
        Assert.Equal("0.0.0.0", With(("actorllm.pool.https-host", "0.0.0.0")).Pool.HttpsHost);
        Assert.Contains("pool.https-port", Assert.Throws<InvalidRequestException>(() => With(("actorllm.pool.https-port", "70000"))).Message);
    }

    [Theory]
    [InlineData("actorllm.worker.max-sesions", "actorllm.worker.max-sessions")]
    [InlineData("actorllm.http.api-key-file", "actorllm.http.api-keys-file")]
    [InlineData("actorllm.sesion.ring", "actorllm.session.ring")]
    public void An_unknown_setting_is_refused_naming_the_nearest_one(string typo, string meant)
    {
        var e = Assert.Throws<InvalidRequestException>(() => ActorLlmSettings.From(ActorLlmConfig.Build(null, new Dictionary<string, string> { [typo] = "1" }, _ => null)));
        Assert.Contains($"unknown setting {typo}; did you mean {meant}?", e.Message);
    }

    [Fact]
    public void Localhost_is_127_0_0_1_in_the_host_and_the_seeds_and_a_wildcard_host_is_refused()
    {
        ActorLlmSettings With(string host, string seeds) => ActorLlmSettings.From(ActorLlmConfig.Build(
            null, new Dictionary<string, string> { ["actorllm.node.host"] = host, ["actorllm.node.seeds"] = seeds }, _ => null));
        var s = With("localhost", "localhost:4050, 10.0.0.2:4050");
        Assert.Equal("127.0.0.1", s.Node.Host);
        Assert.Equal(["127.0.0.1:4050", "10.0.0.2:4050"], s.Node.Seeds);
        foreach (var wildcard in new[] { "0.0.0.0", "::" })
        {
            Assert.Contains("not a wildcard", Assert.Throws<InvalidRequestException>(() => With(wildcard, "10.0.0.2:4050")).Message);
        }
    }

    /// <summary>reference.conf defines every key, so none is filled in by code: without the key, the settings are refused with its name.</summary>
    [Theory]
    [MemberData(nameof(SettingsKeys))]
    public void Each_key_is_read_without_a_fallback(string key)
    {
        string text = WithoutKey(File.ReadAllText(Path.Combine(RepoPaths.Root, "config", "reference.conf")), "actorllm." + key);
        var error = Assert.Throws<InvalidRequestException>(() => ActorLlmSettings.From(ConfigurationFactory.ParseString(text)));
        Assert.Contains($"actorllm.{key} is missing", error.Message);
    }

    [Fact]
    public void The_defaults_code_keeps_for_systems_without_this_config_are_reference_confs()
    {
        // The serializer in an actor system built without reference.conf (tests, tools) uses WireLimits.Default.
        Assert.Equal(WireLimits.From(ActorLlmConfig.Reference.GetConfig("actorllm.wire")), WireLimits.Default);
        Assert.Equal(Defaults().Wire, WireLimits.Default);

        // The planner's tests run it without options.
        Assert.Equal(Defaults().Placement.MemoryHeadroom, PlannerOptions.Default.MemoryHeadroom);
    }

    private static IEnumerable<string> Leaves(HoconValue value, string prefix) =>
        value.IsObject()
            ? value.GetObject().Items.SelectMany(i => Leaves(i.Value, prefix.Length == 0 ? i.Key : $"{prefix}.{i.Key}"))
            : [prefix];

    private static object Read(Config a, string key, object pinned) => pinned switch
    {
        string => a.GetString(key),
        int => a.GetInt(key),
        double => a.GetDouble(key),
        bool => a.GetBoolean(key),
        TimeSpan => a.GetTimeSpan(key),
        Size => new Size(a.GetByteSize(key) ?? -1),
        string[] => a.GetStringList(key).ToArray(),
        _ => throw new ArgumentException($"no reader for {pinned.GetType()}"),
    };

    private static string Show(object value) => value is string[] list ? $"[{string.Join(", ", list)}]" : $"{value}";

    /// <summary>The HOCON <paramref name="text"/> without the line that sets <paramref name="path"/> (a full path).</summary>
    private static string WithoutKey(string text, string path)
    {
        var scope = new Stack<string>();
        var kept = new List<string>();
        bool removed = false;
        foreach (string line in text.Split('\n'))
        {
            string t = line.Trim();
            if (t.EndsWith('{'))
            {
                scope.Push(t[..^1].Trim());
            }
            else if (t == "}")
            {
                scope.Pop();
            }
            else if (!t.StartsWith('#') && t.IndexOf('=') is > 0 and int eq && string.Join(".", scope.Reverse().Append(t[..eq].Trim())) == path)
            {
                removed = true;
                continue;
            }

            kept.Add(line);
        }

        Assert.True(removed, $"reference.conf has no line setting {path}");
        return string.Join('\n', kept);
    }
}
