using System.Globalization;
using ActorLlm.Protocol.Messages;

namespace ActorLlm.Cli;

/// <summary>How a pool job's result reads for people (the demo prints it on stdout, `generate --cluster` on stderr).</summary>
public static class JobReport
{
    /// <summary>Decode speed: tokens after the first per second of decode time (0 when there is none).</summary>
    public static double DecodeTokensPerSecond(JobMessages.GenerationCompleted r) =>
        r.GeneratedTokens > 1 && r.DecodeMs > 0 ? (r.GeneratedTokens - 1) / (r.DecodeMs / 1000) : 0;

    /// <summary>A finished job's figures and per-stage times, one line each.</summary>
    public static IReadOnlyList<string> Lines(JobMessages.GenerationCompleted r)
    {
        var inv = CultureInfo.InvariantCulture;
        double tps = DecodeTokensPerSecond(r);
        var lines = new List<string>
        {
            string.Create(inv, $"{r.PromptTokens} prompt tokens, {r.GeneratedTokens} generated ({r.FinishReason.ToString().ToLowerInvariant()}); prefill {r.PrefillMs:F1} ms; decode {r.DecodeMs:F1} ms = {tps:F1} tokens/s end to end; {r.Failovers} failover(s)"),
            "per stage (compute only; the rest of each step is messaging between processes):",
        };
        lines.AddRange(r.Stages.Select(s => string.Create(inv,
            $"  {s.Stage,-16} prefill {s.PrefillMs,7:F2} ms   decode {s.DecodeMs,8:F2} ms over {s.DecodeSteps} steps = {(s.DecodeSteps > 0 ? s.DecodeMs / s.DecodeSteps : 0),6:F3} ms/step, in batches of {s.MeanDecodeBatch:F1}")));
        return lines;
    }

    /// <summary>
    /// Each stage's mean decode batch over several jobs (weighted by their decode steps), by stage label: how many steps
    /// the stage's scheduler ran together while these jobs decoded.
    /// </summary>
    public static string MeanDecodeBatches(IEnumerable<JobMessages.GenerationCompleted> results) =>
        string.Join(", ", results
            .SelectMany(r => r.Stages)
            .GroupBy(s => s.Stage)
            .Select(g => (Stage: g.Key, Steps: g.Sum(s => (long)s.DecodeSteps), Batched: g.Sum(s => s.DecodeBatchSteps)))
            .Select(s => string.Create(CultureInfo.InvariantCulture, $"{s.Stage} {(s.Steps > 0 ? (double)s.Batched / s.Steps : 0):F1}")));
}
