using ActorLlm.Inference.Checkpoints;
using ActorLlm.Inference.Devices;
using ActorLlm.Inference.Execution;
using ActorLlm.Protocol;
using static TorchSharp.torch;

namespace ActorLlm.Inference.Conformance;

/// <summary>How one fixture's golden outputs compare with this implementation on one device and dtype.</summary>
/// <param name="MaxLogitDiff">Largest |transformers - ours| over every logit of every case.</param>
/// <param name="GreedyMatches">Cases whose greedy continuation (with the KV cache) is identical.</param>
/// <param name="FirstDivergence">For each case, the first generated position that differs, or -1.</param>
public sealed record ConformanceResult(string Fixture, ComputeTarget Target, double MaxLogitDiff, int Cases, int GreedyMatches, int[] FirstDivergence)
{
    public bool GreedyIdentical => GreedyMatches == Cases;
}

/// <summary>Runs a conformance fixture (checkpoint + golden.json) through the stage executor.</summary>
public static class ConformanceCheck
{
    public static ConformanceResult Run(string fixtureDir, ComputeTarget target)
    {
        var cases = Golden.Load(fixtureDir);
        using var source = Checkpoint.Open(fixtureDir);
        using var stage = StageExecutor.Load(source, UnitRange.Whole(source.Config.NumLayers), target, new KvCacheOptions(1, source.Config.MaxPositionEmbeddings));
        double maxDiff = 0;
        var divergence = new List<int>();
        foreach (var c in cases)
        {
            maxDiff = Math.Max(maxDiff, MaxDiff(c.Logits, Logits(stage, c.PromptIds)));
            var generated = Greedy(stage, c.PromptIds, c.GreedyNewIds.Length);
            int first = Enumerable.Range(0, c.GreedyNewIds.Length).FirstOrDefault(i => generated[i] != c.GreedyNewIds[i], -1);
            divergence.Add(first);
        }

        return new ConformanceResult(Path.GetFileName(Path.GetFullPath(fixtureDir).TrimEnd(Path.DirectorySeparatorChar)), target, maxDiff, cases.Count, divergence.Count(d => d < 0), [.. divergence]);
    }

    /// <summary>Logits [T, vocab] of a full pass over <paramref name="ids"/>, as managed rows.</summary>
    public static float[][] Logits(StageExecutor stage, int[] ids)
    {
        var session = SessionId.New();
        try
        {
            using var output = stage.Forward([new StageInput(session, 0, ids, AllLogits: true)])[0];
            using var cpu = output.Logits!.to(ScalarType.Float32, CPU);
            var flat = cpu.data<float>().ToArray();
            int vocab = (int)cpu.shape[1];
            return Enumerable.Range(0, ids.Length).Select(r => flat.AsSpan(r * vocab, vocab).ToArray()).ToArray();
        }
        finally
        {
            stage.Release(session);
        }
    }

    /// <summary>Greedy continuation with the KV cache (prefill, then one token per step).</summary>
    public static int[] Greedy(StageExecutor stage, int[] prompt, int count)
    {
        var session = SessionId.New();
        try
        {
            var generated = new List<int>();
            int[] next = prompt;
            int position = 0;
            while (generated.Count < count)
            {
                using var output = stage.Forward([new StageInput(session, position, next)])[0];
                position += next.Length;
                using var argmax = output.Logits!.argmax(-1);
                generated.Add((int)argmax.item<long>());
                next = [generated[^1]];
            }

            return [.. generated];
        }
        finally
        {
            stage.Release(session);
        }
    }

    public static double MaxDiff(float[][] expected, float[][] actual)
    {
        double max = 0;
        for (int r = 0; r < expected.Length; r++)
        {
            for (int c = 0; c < expected[r].Length; c++)
            {
                max = Math.Max(max, Math.Abs(expected[r][c] - actual[r][c]));
            }
        }

        return max;
    }
}
