using ActorLlm.Inference.Sampling;
using ActorLlm.Protocol.Messages;
using FsCheck;
using FsCheck.Fluent;
using Xunit;
using static TorchSharp.torch;

namespace ActorLlm.Inference.Tests.Sampling;

/// <summary>The figure verification compares (<see cref="LogprobAgreement"/>): a lower bound on the largest log-probability difference, from two top-k reports.</summary>
public sealed class LogprobAgreementVerificationTests
{
    private static TokenLogprobs Report(float logprob, int[] ids, float[] values) => new(logprob, ids, values);

    [Fact]
    public void Identical_reports_are_zero_apart_and_agree()
    {
        var a = Report(-0.5f, [7, 3, 1], [-0.5f, -1.25f, -3f]);
        var b = Report(-0.5f, [7, 3, 1], [-0.5f, -1.25f, -3f]);
        Assert.Equal(0, LogprobAgreement.Distance(a, b));
        Assert.Null(LogprobAgreement.Disagreement(a, b, greedy: true, tolerance: 0));
    }

    [Fact]
    public void A_distribution_shifted_by_c_is_exactly_c_apart_either_way()
    {
        float[] values = [-0.5f, -1.25f, -3f, -4.5f];
        int[] ids = [7, 3, 1, 9];
        foreach (float c in new[] { 0.25f, -0.125f, 2f })
        {
            var a = Report(values[0], ids, values);
            var shifted = values.Select(v => v + c).ToArray();
            var b = Report(shifted[0], ids, shifted);
            Assert.Equal(Math.Abs(c), LogprobAgreement.Distance(a, b));
            Assert.Equal(Math.Abs(c), LogprobAgreement.Distance(b, a));
        }
    }

    [Fact]
    public void A_token_listed_by_one_side_only_is_bounded_by_the_other_sides_smallest()
    {
        // Token 1 only in a (-2.5): b's is at most its smallest listed, -3, so they are at least 0.5 apart.
        // Token 2 only in b (-3) lies below a's smallest (-2.5): it bounds nothing.
        var a = Report(-0.1f, [0, 1], [-0.1f, -2.5f]);
        var b = Report(-0.1f, [0, 2], [-0.1f, -3f]);
        Assert.Equal(0.5, LogprobAgreement.Distance(a, b));
        Assert.Equal(0.5, LogprobAgreement.Distance(b, a));

        // At or below the other side's floor, nothing is known: each side may hold the other's token at -3 too.
        var other = Report(-0.1f, [0, 5], [-0.1f, -3f]);
        Assert.Equal(0, LogprobAgreement.Distance(other, b));

        // But a side's floor bounds the other's: "token 2 is at most -4" against "token 2 is -3" is 1 apart.
        var low = Report(-0.1f, [0, 5], [-0.1f, -4f]);
        Assert.Equal(1, LogprobAgreement.Distance(low, b));
    }

    [Fact]
    public void A_non_finite_value_anywhere_is_infinitely_far_and_disagrees_at_any_tolerance()
    {
        var good = Report(-0.5f, [7, 3], [-0.5f, -1f]);
        foreach (var bad in new[]
        {
            Report(float.NaN, [7, 3], [-0.5f, -1f]),
            Report(-0.5f, [7, 3], [-0.5f, float.NaN]),
            Report(float.NegativeInfinity, [7, 3], [-0.5f, -1f]),
        })
        {
            Assert.Equal(double.PositiveInfinity, LogprobAgreement.Distance(good, bad));
            Assert.Equal(double.PositiveInfinity, LogprobAgreement.Distance(bad, good));
            Assert.NotNull(LogprobAgreement.Disagreement(good, bad, greedy: false, tolerance: 1e30));
        }
    }

    [Fact]
    public void Greedy_check_flags_a_primary_token_the_audit_ranks_too_far_below_its_top()
    {
        // Each value within 0.4 of the other side, but the audit puts token 3 0.7 above the primary's greedy token 7.
        var primary = Report(-0.7f, [7, 3], [-0.7f, -0.8f]);
        var audit = Report(-1.1f, [3, 7], [-0.4f, -1.1f]);
        Assert.Equal(0.4, LogprobAgreement.Distance(primary, audit), 6);
        Assert.Contains("greedy", LogprobAgreement.Disagreement(primary, audit, greedy: true, tolerance: 0.5));
        Assert.Null(LogprobAgreement.Disagreement(primary, audit, greedy: false, tolerance: 0.5));
        Assert.Null(LogprobAgreement.Disagreement(primary, audit, greedy: true, tolerance: 0.8));
        Assert.Contains("differ", LogprobAgreement.Disagreement(primary, audit, greedy: false, tolerance: 0.3));
    }

    /// <summary>
    /// Seeded random logits (vocab 50, top 8), the second row the first plus noise of a random scale (so the top lists
    /// differ as often as not): the bound never exceeds the exact max |difference| of the full log-softmax vectors,
    /// and an honest pair is never flagged at twice that max (the greedy gap is at most twice the distance).
    /// </summary>
    [Fact]
    public void Verification_bound_never_exceeds_the_true_max_difference()
    {
        var cases = Gen.Choose(0, int.MaxValue).Zip(Gen.Elements(0.0, 1e-3, 0.05, 0.5, 3.0));
        Prop.ForAll(cases.ToArbitrary(), c =>
        {
            var (seed, noise) = c;
            var rng = new Random(seed);
            var a = Enumerable.Range(0, 50).Select(_ => (float)(rng.NextDouble() * 8 - 4)).ToArray();
            var b = a.Select(v => v + (float)((rng.NextDouble() * 2 - 1) * noise)).ToArray();
            int token = Sampler.ArgMax(a);
            using var ta = tensor(a);
            using var tb = tensor(b);
            var ra = Sampler.Logprobs(ta, token, 8);
            var rb = Sampler.Logprobs(tb, token, 8);
            using var la = nn.functional.log_softmax(ta, 0);
            using var lb = nn.functional.log_softmax(tb, 0);
            var (xa, xb) = (la.data<float>().ToArray(), lb.data<float>().ToArray());
            double exact = xa.Zip(xb).Max(p => (double)Math.Abs(p.First - p.Second));
            double bound = LogprobAgreement.Distance(ra, rb);
            return bound <= exact && bound >= 0
                && LogprobAgreement.Disagreement(ra, rb, greedy: true, tolerance: (2 * exact) + 1e-6) is null;
        }).QuickCheckThrowOnFailure();
    }
}
