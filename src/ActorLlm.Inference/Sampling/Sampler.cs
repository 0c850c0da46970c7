using static TorchSharp.torch;

namespace ActorLlm.Inference.Sampling;

/// <summary>
/// Chooses tokens from logits. Greedy choices without a penalty are made on the device (only the chosen id
/// crosses to the host); everything else copies the row and works in managed code, where the random draw
/// for position p is a hash of (seed, p): deterministic, independent of batch order and of which replica
/// samples.
/// </summary>
public static class Sampler
{
    /// <summary>Chooses the token for <paramref name="position"/> from one row of logits [vocab] or [1, vocab].</summary>
    /// <param name="seen">Tokens already in the sequence (prompt and generated), for the repetition penalty.</param>
    public static int Sample(Tensor logits, SamplingParams p, IReadOnlyCollection<int> seen, long position)
    {
        using var row = logits.reshape(-1);
        if (p.IsGreedy && p.RepetitionPenalty == 1f)
        {
            using var argmax = row.argmax();
            return (int)argmax.item<long>();
        }

        using var cpu = row.to(ScalarType.Float32, CPU);
        return Sample(cpu.data<float>().ToArray(), p, seen, position);
    }

    /// <summary>
    /// The greedy choice of each row (each [vocab] or [1, vocab], one device), as <see cref="Sample(Tensor, SamplingParams, IReadOnlyCollection{int}, long)"/>
    /// makes it for a greedy row without penalty, but with one argmax and one copy to the host for all of them: a pass
    /// of B decode steps waits for the device once, not B times.
    /// </summary>
    public static int[] GreedyAll(IReadOnlyList<Tensor> rows)
    {
        if (rows.Count == 0)
        {
            return [];
        }

        using var scope = NewDisposeScope();
        var stacked = stack([.. rows.Select(r => r.reshape(-1))]);
        return [.. stacked.argmax(1).to(CPU).data<long>().ToArray().Select(i => (int)i)];
    }

    /// <summary>The same choice on a managed copy of the logits (modified in place).</summary>
    public static int Sample(float[] logits, SamplingParams p, IReadOnlyCollection<int> seen, long position)
    {
        if (p.RepetitionPenalty != 1f)
        {
            foreach (int t in seen)
            {
                if ((uint)t < (uint)logits.Length)
                {
                    logits[t] = logits[t] < 0 ? logits[t] * p.RepetitionPenalty : logits[t] / p.RepetitionPenalty;
                }
            }
        }

        if (p.IsGreedy)
        {
            return ArgMax(logits);
        }

        // Candidates sorted by logit, best first (ties by id for determinism).
        int[] order = Enumerable.Range(0, logits.Length).ToArray();
        Array.Sort(order, (a, b) => logits[b] != logits[a] ? logits[b].CompareTo(logits[a]) : a.CompareTo(b));
        int keep = p.TopK > 0 ? Math.Min(p.TopK, order.Length) : order.Length;

        // Softmax over the kept candidates at the given temperature, in double for a stable cumulative sum.
        double max = logits[order[0]] / p.Temperature;
        var probs = new double[keep];
        double sum = 0;
        for (int i = 0; i < keep; i++)
        {
            probs[i] = Math.Exp((logits[order[i]] / p.Temperature) - max);
            sum += probs[i];
        }

        if (p.TopP < 1f)
        {
            double cumulative = 0;
            for (int i = 0; i < keep; i++)
            {
                cumulative += probs[i] / sum;
                if (cumulative >= p.TopP)
                {
                    keep = i + 1;
                    break;
                }
            }

            sum = probs.Take(keep).Sum();
        }

        double u = Uniform(p.Seed, position) * sum;
        for (int i = 0; i < keep; i++)
        {
            u -= probs[i];
            if (u < 0)
            {
                return order[i];
            }
        }

        return order[keep - 1];
    }

    /// <summary>
    /// <paramref name="token"/>'s log-probability under the row's distribution (log-softmax of the raw logits, before
    /// temperature, top-k, top-p and penalty, as OpenAI reports them) and the <paramref name="top"/> most likely
    /// tokens with theirs, most likely first. Computed on the row's device; one small copy to the host.
    /// </summary>
    public static Protocol.Messages.TokenLogprobs Logprobs(Tensor logits, int token, int top)
    {
        using var scope = NewDisposeScope();
        var logProbs = nn.functional.log_softmax(logits.reshape(-1).to(ScalarType.Float32), 0);
        int k = Math.Clamp(top, 0, (int)logProbs.shape[0]);
        float chosen = logProbs[token].to(CPU).item<float>();
        if (k == 0)
        {
            return new Protocol.Messages.TokenLogprobs(chosen, [], []);
        }

        var (values, indices) = logProbs.topk(k);
        float[] topValues = values.to(CPU).data<float>().ToArray();
        int[] topIds = [.. indices.to(CPU).data<long>().ToArray().Select(i => (int)i)];
        return new Protocol.Messages.TokenLogprobs(chosen, topIds, topValues);
    }

    public static int ArgMax(ReadOnlySpan<float> row)
    {
        int best = 0;
        for (int i = 1; i < row.Length; i++)
        {
            if (row[i] > row[best])
            {
                best = i;
            }
        }

        return best;
    }

    /// <summary>A uniform number in [0, 1) determined by (seed, position): SplitMix64 over both.</summary>
    public static double Uniform(ulong seed, long position)
    {
        ulong z = seed + (0x9E3779B97F4A7C15UL * ((ulong)position + 1));
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        z ^= z >> 31;
        return (z >> 11) * (1.0 / (1UL << 53));
    }
}
