using ActorLlm.Protocol.Messages;

namespace ActorLlm.Inference.Sampling;

/// <summary>
/// Whether two runs of one position agree on the next token's distribution, seen through what each reported: the
/// log-probability of the token that was chosen and the top-k alternatives (<see cref="TokenLogprobs"/>). Used by
/// verification (a volunteer's route against a trusted one) and by <c>quality</c> to measure how far honest devices
/// drift apart (f32 on a CPU against bf16 on a GPU), so the threshold rests on the same figure it is compared with.
/// </summary>
public static class LogprobAgreement
{
    /// <summary>
    /// A lower bound on the largest |difference| between the two log-probability vectors (natural log), from what
    /// both reported: the chosen token's log-probability exactly, every token listed by both exactly, and a token
    /// listed by only one side by the other side's smallest listed value (its own log-probability there is at most
    /// that). 0 when the reports are identical. Never more than the true largest difference, so an honest pair whose
    /// distributions are within <c>t</c> of each other everywhere is never reported above <c>t</c>.
    /// </summary>
    /// <remarks>Both reports must be about the same chosen token (the primary's sampled token; the audit reports its log-probability of that token).</remarks>
    public static double Distance(TokenLogprobs a, TokenLogprobs b)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        if (!float.IsFinite(a.Logprob) || !float.IsFinite(b.Logprob) || a.TopLogprobs.Any(v => !float.IsFinite(v)) || b.TopLogprobs.Any(v => !float.IsFinite(v)))
        {
            return double.PositiveInfinity;
        }

        double d = Math.Abs(a.Logprob - b.Logprob);
        d = Math.Max(d, OneSided(a, b));
        d = Math.Max(d, OneSided(b, a));
        return d;
    }

    /// <summary>
    /// Why the primary's report <paramref name="primary"/> does not match the audit's <paramref name="audit"/> within
    /// <paramref name="tolerance"/> nats, or null when it does. A greedy step must also have chosen a most likely
    /// token under the audit (within the tolerance: two tokens that near-tie may swap between honest devices).
    /// </summary>
    public static string? Disagreement(TokenLogprobs primary, TokenLogprobs audit, bool greedy, double tolerance)
    {
        double distance = Distance(primary, audit);
        if (!(distance <= tolerance))
        {
            return $"log-probabilities differ by {distance:G3} (tolerance {tolerance:G3})";
        }

        if (greedy && audit.TopLogprobs.Length > 0 && audit.TopLogprobs[0] - audit.Logprob > tolerance)
        {
            return $"a greedy step chose a token {audit.TopLogprobs[0] - audit.Logprob:G3} below the most likely one (tolerance {tolerance:G3})";
        }

        return null;
    }

    /// <summary>Largest difference over the tokens <paramref name="x"/> lists, against what <paramref name="y"/> says or bounds.</summary>
    private static double OneSided(TokenLogprobs x, TokenLogprobs y)
    {
        double d = 0;
        float floor = y.TopLogprobs.Length > 0 ? y.TopLogprobs.Min() : float.NegativeInfinity;
        for (int i = 0; i < x.TopIds.Length && i < x.TopLogprobs.Length; i++)
        {
            int at = Array.IndexOf(y.TopIds, x.TopIds[i]);
            if (at >= 0 && at < y.TopLogprobs.Length)
            {
                d = Math.Max(d, Math.Abs(x.TopLogprobs[i] - y.TopLogprobs[at]));
            }
            else if (y.TopLogprobs.Length > 0)
            {
                // Not in y's list: y's log-probability of it is at most y's smallest listed value.
                d = Math.Max(d, x.TopLogprobs[i] - floor);
            }
        }

        return d;
    }
}
