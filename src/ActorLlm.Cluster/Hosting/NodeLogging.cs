using Akka.Actor;
using Akka.Event;
using Akka.Hosting;
using Akka.Hosting.Logging;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;
using MelLevel = Microsoft.Extensions.Logging.LogLevel;

namespace ActorLlm.Cluster.Hosting;

/// <summary>
/// Every node logs through Microsoft.Extensions.Logging: Akka's events (through Akka.Hosting's logger bridge,
/// <see cref="AkkaLogBridge"/>), the node's own lines and ASP.NET Core's all go to one console provider on standard
/// error (standard output carries only results: a client's text, a node's "up" line). Text is the simple console's
/// single lines; <c>actorllm.log.format = json</c> is its JSON console, one object per line
/// (<c>Timestamp, EventId, LogLevel, Category, Message, Exception?, State</c>). The level is <c>akka.loglevel</c>.
/// </summary>
public static class NodeLogging
{
    /// <summary>The category of the node's own lines (start, credentials, model, join, exit).</summary>
    public const string NodeCategory = "ActorLlm.Node";

    /// <summary>Replaces <paramref name="logging"/>'s providers with the node's console on standard error.</summary>
    public static ILoggingBuilder AddActorLlmConsole(this ILoggingBuilder logging, LogSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        logging.ClearProviders();
        logging.SetMinimumLevel(settings.Level);

        // ASP.NET Core's per-request lines are noise on a node; its warnings and errors are kept.
        logging.AddFilter("Microsoft", settings.Level > MelLevel.Warning ? settings.Level : MelLevel.Warning);
        if (settings.Json)
        {
            logging.AddJsonConsole(o =>
            {
                o.UseUtcTimestamp = true;
                o.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ";
                o.JsonWriterOptions = new System.Text.Json.JsonWriterOptions { Indented = false };
            });
        }
        else
        {
            logging.AddSimpleConsole(o =>
            {
                o.SingleLine = true;
                o.TimestampFormat = "HH:mm:ss.fff ";
            });
        }

        logging.Services.Configure<ConsoleLoggerOptions>(o => o.LogToStandardErrorThreshold = MelLevel.Trace);
        return logging;
    }

    /// <summary>
    /// The factory a node process logs with from its first line on (before any host exists); hosts are given the same
    /// instance (<see cref="UseFactory"/>) so that every line goes through one console queue. The caller disposes it
    /// last, which writes out whatever is still queued.
    /// </summary>
    public static ILoggerFactory CreateFactory(LogSettings settings) => LoggerFactory.Create(b => b.AddActorLlmConsole(settings));

    /// <summary>
    /// Makes <paramref name="factory"/> the host's logger factory (registered last, so it is the one resolved; as an
    /// instance, so the host does not dispose it: the caller keeps owning it).
    /// </summary>
    public static IServiceCollection UseFactory(this IServiceCollection services, ILoggerFactory factory) =>
        services.AddSingleton(factory);

    /// <summary>Akka's loggers: the bridge alone, at <paramref name="settings"/>' level.</summary>
    public static AkkaConfigurationBuilder WithActorLlmLogging(this AkkaConfigurationBuilder builder, LogSettings settings) =>
        builder.ConfigureLoggers(l =>
        {
            l.LogLevel = settings.Level switch
            {
                <= MelLevel.Debug => Akka.Event.LogLevel.DebugLevel,
                MelLevel.Information => Akka.Event.LogLevel.InfoLevel,
                MelLevel.Warning => Akka.Event.LogLevel.WarningLevel,
                _ => Akka.Event.LogLevel.ErrorLevel,
            };
            l.ClearLoggers();
            l.AddLogger<AkkaLogBridge>();
        });

    /// <summary>
    /// The node's own lines as a plain callback (what <see cref="NodeResources.Prepare"/> and the like take): a line
    /// starting with "warning: " is a Warning without that prefix, every other line Information.
    /// </summary>
    public static Action<string> Lines(this ILogger logger) => line =>
    {
        if (line.StartsWith(WarningPrefix, StringComparison.Ordinal))
        {
            logger.LogWarning("{Line}", line[WarningPrefix.Length..]);
        }
        else
        {
            logger.LogInformation("{Line}", line);
        }
    };

    private const string WarningPrefix = "warning: ";
}

/// <summary>
/// Akka.Hosting's <see cref="LoggerFactoryLogger"/> (which takes the host's <see cref="ILoggerFactory"/> from the
/// actor system's setup), writing each event under the category of the class that logged it (e.g.
/// <c>Akka.Remote.EndpointWriter</c>, <c>ActorLlm.Cluster.Worker.Internal.StageWorkerActor</c>), so that levels can
/// be set per category, with the formatted message alone as its text (the bridge's own text repeats Akka's
/// timestamp, thread and source, which the console already writes or has in the state) and the source (an actor's
/// path) in the state.
/// </summary>
public sealed class AkkaLogBridge : LoggerFactoryLogger
{
    private readonly ILoggerFactory _factory;
    private readonly Dictionary<string, ILogger> _loggers = new(StringComparer.Ordinal);

    private readonly LogRateLimiter _abuse;

    public AkkaLogBridge()
    {
        _factory = Context.System.Settings.Setup.Get<LoggerFactorySetup>().Value.LoggerFactory;

        // Read here (Akka constructs its loggers itself); LogSettings validates the same key at start.
        _abuse = new LogRateLimiter(Context.System.Settings.Config.GetTimeSpan("actorllm.log.abuse-window", TimeSpan.FromMinutes(1)));
    }

    protected override void Log(LogEvent log, ActorPath path)
    {
        string category = Category(log.LogClass, log.LogSource);
        if (!_loggers.TryGetValue(category, out var logger))
        {
            logger = _factory.CreateLogger(category);
            _loggers[category] = logger;
        }

        var level = Level(log.LogLevel());
        if (!logger.IsEnabled(level))
        {
            return;
        }

        string text = Text(log);
        if (AbuseKey(category, level, text, log.Cause) is { } key)
        {
            if (!_abuse.Admit(key, log.Timestamp, out int held))
            {
                return;
            }

            if (held > 0)
            {
                text += $" ({held} more like it from this peer since, not shown: actorllm.log.abuse-window)";
            }
        }
        KeyValuePair<string, object?>[] state = [new("LogSource", log.LogSource), new("{OriginalFormat}", text)];
        logger.Log(level, default, state, log.Cause, (_, _) => text);
    }

    /// <summary>
    /// The class that logged, or for Akka's string sources ("Cluster (akka://actorllm)", "remoting (...)") the
    /// module they name: <c>Akka.Cluster</c>, <c>Akka.Remote</c>, <c>Akka.&lt;first word&gt;</c>.
    /// </summary>
    internal static string Category(Type? logClass, string? source)
    {
        if (logClass is not null && logClass != typeof(DummyClassForStringSources))
        {
            return logClass.FullName ?? logClass.Name;
        }

        string word = new((source ?? "").TakeWhile(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_').ToArray());
        return word.ToLowerInvariant() switch
        {
            "" => "Akka",
            "cluster" => "Akka.Cluster",
            "remoting" => "Akka.Remote",
            _ => "Akka." + word,
        };
    }

    /// <summary>
    /// The kind and the peer of a transport error (a malformed frame, a huge length prefix, garbage after the
    /// handshake: one line per connection, so an attacker decides how much is written), or null for every other line.
    /// Such lines are written once per kind and peer per actorllm.log.abuse-window.
    /// </summary>
    internal static string? AbuseKey(string category, MelLevel level, string text, Exception? cause)
    {
        if (level < MelLevel.Warning || !category.StartsWith("Akka.Remote.Transport", StringComparison.Ordinal))
        {
            return null;
        }

        var peer = s_peer.Match(text);
        string kind = cause?.GetType().Name ?? new string(text.TakeWhile(c => !char.IsAsciiDigit(c) && c != '[').Take(40).ToArray());
        return $"{category}|{kind}|{(peer.Success ? peer.Groups["host"].Value : "?")}";
    }

    // "channel [[::ffff:127.0.0.1]:4998->[::ffff:127.0.0.1]:38256]": the remote end, after the arrow (port dropped).
    private static readonly System.Text.RegularExpressions.Regex s_peer = new(@"->(?:\[(?<host>[^\]]+)\]|(?<host>[^:\s\]]+)):\d+", System.Text.RegularExpressions.RegexOptions.CultureInvariant);

    internal static MelLevel Level(Akka.Event.LogLevel level) => level switch
    {
        Akka.Event.LogLevel.DebugLevel => MelLevel.Debug,
        Akka.Event.LogLevel.InfoLevel => MelLevel.Information,
        Akka.Event.LogLevel.WarningLevel => MelLevel.Warning,
        _ => MelLevel.Error,
    };

    /// <summary>The message with its arguments in place; a template that does not fit its arguments is shown raw.</summary>
    private static string Text(LogEvent log)
    {
        try
        {
            return log.Message?.ToString() ?? "";
        }
        catch (FormatException)
        {
            return log.Message is LogMessage m ? $"{m.Format} [{string.Join(", ", m.Unformatted())}]" : "(unformattable message)";
        }
    }
}
