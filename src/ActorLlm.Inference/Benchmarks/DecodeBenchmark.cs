using System.Diagnostics;
using ActorLlm.Inference.Execution;
using ActorLlm.Protocol;
using static TorchSharp.torch;

namespace ActorLlm.Inference.Benchmarks;

/// <summary>Figures of one decode benchmark run.</summary>
/// <param name="TokensPerSecond">Generated tokens of all sequences per second of decode.</param>
public sealed record DecodeBenchmarkResult(int Batch, int PromptTokens, int NewTokens, double PrefillSeconds, double DecodeSeconds, double TokensPerSecond)
{
    /// <summary>Tokens per second each sequence sees.</summary>
    public double PerSequenceTokensPerSecond => TokensPerSecond / Batch;

    public double MillisecondsPerStep => DecodeSeconds * 1000 / Math.Max(1, NewTokens - 1);
}

/// <summary>
/// Greedy decode of <c>batch</c> sequences at once through a chain of stages, the way the cluster batches
/// concurrent jobs: one prefill pass for all, then one pass per token for all. Prompts are random token ids.
/// </summary>
public static class DecodeBenchmark
{
    public static DecodeBenchmarkResult Run(IReadOnlyList<StageExecutor> stages, int batch, int promptTokens, int newTokens, int seed = 1)
    {
        var random = new Random(seed);
        int vocab = stages[0].Config.VocabSize;
        var sessions = Enumerable.Range(0, batch).Select(_ => SessionId.New()).ToArray();
        var prompts = sessions.Select(_ => Enumerable.Range(0, promptTokens).Select(_ => random.Next(3, vocab)).ToArray()).ToArray();
        try
        {
            var clock = Stopwatch.StartNew();
            int[] next = Step(stages, sessions, prompts, 0);
            double prefill = clock.Elapsed.TotalSeconds;
            clock.Restart();
            for (int i = 1; i < newTokens; i++)
            {
                next = Step(stages, sessions, next.Select(t => new[] { t }).ToArray(), promptTokens + i - 1);
            }

            double decode = clock.Elapsed.TotalSeconds;
            return new DecodeBenchmarkResult(batch, promptTokens, newTokens, prefill, decode, batch * (newTokens - 1) / decode);
        }
        finally
        {
            foreach (var stage in stages)
            {
                foreach (var s in sessions)
                {
                    stage.Release(s);
                }
            }
        }
    }

    /// <summary>One pass of every session through every stage; the greedy next token of each (one device-to-host copy).</summary>
    private static int[] Step(IReadOnlyList<StageExecutor> stages, SessionId[] sessions, int[][] ids, int start)
    {
        var outputs = StageChain.Forward(stages, sessions.Select((s, i) => new StageInput(s, start, ids[i])).ToArray());
        using var scope = NewDisposeScope();
        var tokens = cat(outputs.Select(o => o.Logits!).ToArray(), 0).argmax(-1).cpu();
        foreach (var o in outputs)
        {
            o.Dispose();
        }

        return tokens.data<long>().ToArray().Select(t => (int)t).ToArray();
    }
}
