using Akka.Actor;
using Akka.Dispatch;
using Akka.Event;

namespace ActorLlm.Cluster.Hosting;

/// <summary>
/// Akka's log events on standard error. Commands such as <c>actorllm generate --cluster</c> print their result on
/// standard output and nothing else; Akka's default logger would write there.
/// </summary>
public sealed class StderrLogger : ReceiveActor, IRequiresMessageQueue<ILoggerMessageQueueSemantics>
{
    public StderrLogger()
    {
        Receive<InitializeLogger>(_ => Sender.Tell(new LoggerInitialized()));
        Receive<LogEvent>(e => Console.Error.WriteLine($"[{e.Timestamp:HH:mm:ss.fff} {Short(e.LogLevel())}] {e.LogSource}: {e.Message}{(e is Error { Cause: { } c } ? " | " + c.Message : "")}"));
    }

    private static string Short(LogLevel level) => level switch
    {
        LogLevel.DebugLevel => "DBG",
        LogLevel.InfoLevel => "INF",
        LogLevel.WarningLevel => "WRN",
        _ => "ERR",
    };
}
