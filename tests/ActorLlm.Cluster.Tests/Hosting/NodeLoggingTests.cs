using System.Collections.Concurrent;
using ActorLlm.Cluster.Hosting;
using ActorLlm.Inference;
using Akka.Actor;
using Akka.Event;
using Akka.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Xunit;
using MelLevel = Microsoft.Extensions.Logging.LogLevel;

namespace ActorLlm.Cluster.Tests.Hosting;

/// <summary>
/// A node's logging: Akka's events reach Microsoft.Extensions.Logging through Akka.Hosting's bridge under the
/// logging class's category, with the formatted message, at the configured level; the node's own lines map
/// "warning: " to Warning; level names are Akka's.
/// </summary>
public sealed class NodeLoggingTests
{
    [Theory]
    [InlineData("DEBUG", MelLevel.Debug)]
    [InlineData("info", MelLevel.Information)]
    [InlineData(" WARNING ", MelLevel.Warning)]
    [InlineData("ERROR", MelLevel.Error)]
    [InlineData("OFF", MelLevel.None)]
    public void Akka_level_names_map_to_logging_levels(string name, MelLevel expected) =>
        Assert.Equal(expected, LogSettings.ParseLevel(name));

    [Fact]
    public void An_unknown_level_is_refused_with_the_valid_names()
    {
        var e = Assert.Throws<InvalidRequestException>(() => LogSettings.ParseLevel("LOUD"));
        Assert.Contains("DEBUG, INFO, WARNING, ERROR or OFF", e.Message, StringComparison.Ordinal);
        var config = ActorLlmConfig.Build(null, new Dictionary<string, string> { ["akka.loglevel"] = "LOUD" }, _ => null);
        Assert.Throws<InvalidRequestException>(() => ActorLlmSettings.From(config));
    }

    [Theory]
    [InlineData("Cluster (akka://actorllm)", "Akka.Cluster")]
    [InlineData("remoting (akka://actorllm)", "Akka.Remote")]
    [InlineData("remoting-terminator", "Akka.Remote")]
    [InlineData("", "Akka")]
    [InlineData("Sharding(x)", "Akka.Sharding")]
    public void String_sources_are_named_by_their_module(string source, string category) =>
        Assert.Equal(category, AkkaLogBridge.Category(typeof(DummyClassForStringSources), source));

    [Fact]
    public void Class_sources_are_named_by_their_class() =>
        Assert.Equal(typeof(Talker).FullName, AkkaLogBridge.Category(typeof(Talker), "akka://x/user/talker"));

    [Fact]
    public void Node_lines_starting_with_warning_are_warnings()
    {
        var sink = new Sink();
        using var factory = LoggerFactory.Create(b => b.AddProvider(sink));
        var lines = factory.CreateLogger(NodeLogging.NodeCategory).Lines();
        lines("model loaded");
        lines("warning: TLS is off");
        Assert.Equal(
            [(MelLevel.Information, NodeLogging.NodeCategory, "model loaded"), (MelLevel.Warning, NodeLogging.NodeCategory, "TLS is off")],
            sink.Records.Select(r => (r.Level, r.Category, r.Message)).ToArray());
    }

    [Theory]
    [InlineData("INFO", true)]
    [InlineData("WARNING", false)]
    public async Task Akka_events_go_through_the_bridge_under_their_class_with_the_formatted_message(string level, bool infoShown)
    {
        var sink = new Sink();
        var overrides = new Dictionary<string, string>
        {
            ["actorllm.tls.enabled"] = "off",
            ["actorllm.node.port"] = "0",
            ["akka.loglevel"] = level,
        };
        var settings = ActorLlmSettings.From(ActorLlmConfig.Build(null, overrides, _ => null));
        using var host = new HostBuilder()
            .ConfigureLogging(l => l.AddActorLlmConsole(settings.Log).ClearProviders().AddProvider(sink))
            .ConfigureServices(s => s.AddAkka("logtest", b => b.WithActorLlmLogging(settings.Log)))
            .Build();
        await host.StartAsync();
        try
        {
            var system = host.Services.GetRequiredService<ActorSystem>();
            var talker = system.ActorOf(Props.Create(() => new Talker()), "talker");
            string done = await talker.Ask<string>("go", TimeSpan.FromSeconds(10));
            Assert.Equal("done", done);

            // The warning is logged after the info line by the same actor; once it has arrived, so has the info line.
            var warning = await sink.WaitFor(r => r.Category == typeof(Talker).FullName && r.Level == MelLevel.Warning, TimeSpan.FromSeconds(10));
            Assert.Equal("careful with 3 things", warning.Message);
            var info = sink.Records.Where(r => r.Category == typeof(Talker).FullName && r.Level == MelLevel.Information).ToArray();
            Assert.Equal(infoShown ? ["hello 42 from talker"] : [], info.Select(r => r.Message).ToArray());
            Assert.DoesNotContain(sink.Records, r => r.Category == typeof(Talker).FullName && r.Level == MelLevel.Debug);
        }
        finally
        {
            await host.StopAsync();
        }
    }

    private sealed class Talker : ReceiveActor
    {
        public Talker()
        {
            var log = Context.GetLogger();
            Receive<string>(_ =>
            {
                log.Debug("debug {0}", 1);
                log.Info("hello {0} from {1}", 42, "talker");
                log.Warning("careful with {0} things", 3);
                Sender.Tell("done");
            });
        }
    }

    /// <summary>Records every line it is given (the console is what nodes use; this stands in for it).</summary>
    private sealed class Sink : ILoggerProvider
    {
        private readonly ConcurrentQueue<(MelLevel Level, string Category, string Message)> _records = new();
        private readonly SemaphoreSlim _added = new(0);

        public IReadOnlyList<(MelLevel Level, string Category, string Message)> Records => [.. _records];

        public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

        public void Dispose() => _added.Dispose();

        public async Task<(MelLevel Level, string Category, string Message)> WaitFor(
            Func<(MelLevel Level, string Category, string Message), bool> match, TimeSpan timeout)
        {
            using var cancel = new CancellationTokenSource(timeout);
            while (true)
            {
                if (_records.FirstOrDefault(match) is { Category: not null } found)
                {
                    return found;
                }

                await _added.WaitAsync(cancel.Token);
            }
        }

        private sealed class Logger(Sink sink, string category) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

            public bool IsEnabled(MelLevel logLevel) => true;

            public void Log<TState>(MelLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
            {
                sink._records.Enqueue((logLevel, category, formatter(state, exception)));
                sink._added.Release();
            }
        }
    }
}

/// <summary>Hostile bytes cannot flood the log: transport errors once per kind and peer per window.</summary>
public sealed class LogRateLimiterTests
{
    private static readonly DateTime s_t0 = new(2026, 12, 8, 0, 0, 0, DateTimeKind.Utc);

    [Fact]
    public void The_first_line_of_a_key_passes_the_rest_within_the_window_are_counted_and_reported_by_the_next()
    {
        var limiter = new LogRateLimiter(TimeSpan.FromMinutes(1));
        Assert.True(limiter.Admit("a", s_t0, out int held));
        Assert.Equal(0, held);
        for (int i = 1; i <= 500; i++)
        {
            Assert.False(limiter.Admit("a", s_t0.AddMilliseconds(i * 100), out _));
        }

        Assert.True(limiter.Admit("b", s_t0.AddSeconds(1), out held));
        Assert.Equal(0, held);
        Assert.True(limiter.Admit("a", s_t0.AddMinutes(1), out held));
        Assert.Equal(500, held);
        Assert.False(limiter.Admit("a", s_t0.AddMinutes(1.5), out _));
    }

    [Fact]
    public void A_zero_window_admits_everything() =>
        Assert.All(Enumerable.Range(0, 10), _ => Assert.True(new LogRateLimiter(TimeSpan.Zero).Admit("a", s_t0, out _)));

    [Fact]
    public void Memory_is_bounded_under_a_spray_of_keys_and_expired_keys_make_room()
    {
        var limiter = new LogRateLimiter(TimeSpan.FromMinutes(1), maxKeys: 100);
        for (int i = 0; i < 10_000; i++)
        {
            Assert.True(limiter.Admit($"peer-{i}", s_t0, out _));
        }

        Assert.Equal(100, limiter.Count);
        Assert.True(limiter.Admit("late", s_t0.AddMinutes(2), out _));
        Assert.Equal(1, limiter.Count);
    }

    [Fact]
    public void Transport_errors_are_keyed_by_kind_and_remote_host_and_other_lines_not_at_all()
    {
        const string category = "Akka.Remote.Transport.DotNetty.TcpServerHandler";
        string Line(int port) => $"Error caught channel [[::ffff:127.0.0.1]:4997->[::ffff:10.0.0.7]:{port}](Id=372b8d52)";
        var tooLong = new InvalidDataException("too long");
        string? a = AkkaLogBridge.AbuseKey(category, MelLevel.Error, Line(44256), tooLong);
        Assert.Equal($"{category}|InvalidDataException|::ffff:10.0.0.7", a);
        Assert.Equal(a, AkkaLogBridge.AbuseKey(category, MelLevel.Error, Line(50000), tooLong));
        Assert.NotEqual(a, AkkaLogBridge.AbuseKey(category, MelLevel.Error, Line(50000), new FormatException()));
        Assert.Null(AkkaLogBridge.AbuseKey(category, MelLevel.Information, Line(1), tooLong));
        Assert.Null(AkkaLogBridge.AbuseKey("ActorLlm.Cluster.Placement.Internal.PlacementCoordinatorActor", MelLevel.Error, Line(1), tooLong));
    }
}
