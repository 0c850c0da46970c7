using System.Text.Json;
using Akka.Actor;
using Akka.Dispatch;
using Akka.Event;

namespace ActorLlm.Cluster.Hosting;

/// <summary>
/// Akka's log events on standard error, as text or, with <c>actorllm.log.format = json</c>, one JSON object per line.
/// Commands such as <c>actorllm generate --cluster</c> print their result on standard output and nothing else;
/// Akka's default logger would write there.
/// </summary>
public sealed class StderrLogger : ReceiveActor, IRequiresMessageQueue<ILoggerMessageQueueSemantics>
{
    public StderrLogger()
    {
        bool json = string.Equals(Context.System.Settings.Config.GetString("actorllm.log.format", "text")?.Trim(), "json", StringComparison.OrdinalIgnoreCase);
        Receive<InitializeLogger>(_ => Sender.Tell(new LoggerInitialized()));
        Receive<LogEvent>(e => Console.Error.WriteLine(json
            ? Json(e.Timestamp, Level(e.LogLevel()), e.LogSource, e.Message?.ToString() ?? "", e is Error { Cause: { } c } ? c.Message : null)
            : $"[{e.Timestamp:HH:mm:ss.fff} {Short(e.LogLevel())}] {e.LogSource}: {e.Message}{(e is Error { Cause: { } c2 } ? " | " + c2.Message : "")}"));
    }

    /// <summary>One log line as JSON: <c>{"time", "level", "source", "message", "error"?}</c>.</summary>
    public static string Json(DateTime time, string level, string source, string message, string? error = null) =>
        JsonSerializer.Serialize(error is null
            ? new { time = time.ToUniversalTime().ToString("O"), level, source, message }
            : (object)new { time = time.ToUniversalTime().ToString("O"), level, source, message, error });

    private static string Level(LogLevel level) => level switch
    {
        LogLevel.DebugLevel => "debug",
        LogLevel.InfoLevel => "info",
        LogLevel.WarningLevel => "warning",
        _ => "error",
    };

    private static string Short(LogLevel level) => level switch
    {
        LogLevel.DebugLevel => "DBG",
        LogLevel.InfoLevel => "INF",
        LogLevel.WarningLevel => "WRN",
        _ => "ERR",
    };
}
