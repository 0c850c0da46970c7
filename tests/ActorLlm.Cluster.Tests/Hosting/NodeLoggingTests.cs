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
