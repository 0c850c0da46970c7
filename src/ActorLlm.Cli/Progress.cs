using System.Diagnostics;
using ActorLlm.Inference.Checkpoints;
using Spectre.Console;

namespace ActorLlm.Cli;

/// <summary>
/// Progress of a long copy in a one-shot command (convert, a model load), on standard error: a Spectre.Console bar
/// (bytes, rate, time left) on a terminal; plain lines when standard error is redirected (a log, CI), at most one
/// per <see cref="PlainInterval"/> plus the last. Standard output keeps only the command's result.
/// </summary>
public static class Progress
{
    /// <summary>How often a redirected run writes a progress line.</summary>
    public static readonly TimeSpan PlainInterval = TimeSpan.FromSeconds(2);

    /// <summary>
    /// Runs <paramref name="work"/>, which reports (bytes done, bytes in all, what it is at) as it goes.
    /// <paramref name="transient"/>: the bar goes when the work ends, and a redirected run that ended within
    /// <see cref="PlainInterval"/> writes no line at all (a model load before a command's real output).
    /// </summary>
    public static T Run<T>(string what, Func<Action<long, long, string>, T> work, bool transient = false)
    {
        if (Console.IsErrorRedirected)
        {
            return Plain(what, work, line => Console.Error.WriteLine(line), transient);
        }

        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) });
        T result = default!;
        console.Progress()
            .AutoClear(transient)
            .Columns(
                new TaskDescriptionColumn { Alignment = Justify.Left },
                new ProgressBarColumn(),
                new PercentageColumn(),
                new DownloadedColumn(),
                new TransferSpeedColumn(),
                new RemainingTimeColumn())
            .Start(context =>
            {
                var task = context.AddTask(what, maxValue: 1);
                result = work((done, total, at) =>
                {
                    task.MaxValue = Math.Max(1, total);
                    task.Value = done;
                    task.Description = $"{what} {Markup.Escape(at)}";
                });
                task.Value = task.MaxValue;
            });
        return result;
    }

    /// <summary>The redirected form: "converting layer.3 (5/34): 1.2 GiB of 16.1 GiB (7%), 410.0 MiB/s, 36 s left".</summary>
    public static T Plain<T>(string what, Func<Action<long, long, string>, T> work, Action<string> write, bool transient = false)
    {
        bool wrote = false;
        var clock = Stopwatch.StartNew();
        var throttle = new ProgressThrottle(PlainInterval);
        TransferProgress? last = null;
        string lastAt = "";
        var result = work((done, total, at) =>
        {
            last = new TransferProgress(done, total, clock.Elapsed);
            lastAt = at;
            if (throttle.Due(clock.Elapsed) && done < total)
            {
                write($"{what} {at}: {last.Value.Describe()}");
                wrote = true;
            }
        });
        if (last is { } end && (wrote || !transient))
        {
            write($"{what} {lastAt}: {end.Describe()}");
        }

        return result;
    }
}
