using System.Diagnostics;
using ActorLlm.Protocol.Messages;

namespace ActorLlm.Cli.Bench;

/// <summary>A job timed from its client: milliseconds to its first text and to its last.</summary>
public sealed record TimedJob(JobMessages.GenerationCompleted Result, double FirstMs, double LastMs)
{
    /// <summary>Tokens after the first over the time between the first text and the last, as the client saw them.</summary>
    public double DecodeTokensPerSecond => LastMs > FirstMs ? (Result.GeneratedTokens - 1) / ((LastMs - FirstMs) / 1000) : 0;

    /// <summary>Runs <paramref name="job"/>, giving it the callback that timestamps each piece of text.</summary>
    public static async Task<TimedJob> Run(Func<Action<string>, Task<JobMessages.GenerationCompleted>> job)
    {
        var clock = Stopwatch.StartNew();
        double first = -1;
        double last = 0;
        var result = await job(_ =>
        {
            last = clock.Elapsed.TotalMilliseconds;
            if (first < 0)
            {
                first = last;
            }
        });
        return new TimedJob(result, first, last);
    }

    /// <summary>The median of <paramref name="values"/> (0 for none).</summary>
    public static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length == 0 ? 0 : sorted[sorted.Length / 2];
    }

    /// <summary>The nearest-rank percentile <paramref name="p"/> (0..100) of <paramref name="values"/>: p99 of 64 values is the 64th.</summary>
    public static double Percentile(IEnumerable<double> values, double p)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length == 0 ? 0 : sorted[Math.Clamp((int)Math.Ceiling(p / 100 * sorted.Length) - 1, 0, sorted.Length - 1)];
    }
}
