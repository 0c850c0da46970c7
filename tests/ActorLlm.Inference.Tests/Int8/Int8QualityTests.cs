using ActorLlm.Inference.Benchmarks;
using ActorLlm.Inference.Devices;
using FsCheck;
using FsCheck.Fluent;
using Xunit;

namespace ActorLlm.Inference.Tests.Int8;

/// <summary>The greedy agreement figure of <c>actorllm quality</c>: identical tokens position by position and the first divergence.</summary>
public sealed class Int8QualityTests
{
    [Fact]
    public void Agreement_counts_equal_positions_and_finds_the_first_difference()
    {
        var tokens = Gen.ArrayOf(Gen.Choose(0, 3));
        Prop.ForAll(tokens.ToArbitrary(), tokens.ToArbitrary(), (a, b) =>
        {
            var g = WeightQuality.Agreement("p", a, b);
            int n = Math.Min(a.Length, b.Length);
            int identical = Enumerable.Range(0, n).Count(i => a[i] == b[i]);
            int? first = Enumerable.Range(0, n).Cast<int?>().FirstOrDefault(i => a[i!.Value] != b[i.Value]) ?? (a.Length != b.Length ? n : null);
            return g.Identical == identical && g.FirstDivergence == first && g.Tokens == Math.Max(a.Length, b.Length)
                && g.Fraction >= 0 && g.Fraction <= 1;
        }).QuickCheckThrowOnFailure();
    }

    [Fact]
    public void Identical_sequences_agree_fully_and_one_change_is_found_where_it_is()
    {
        int[] a = [5, 6, 7, 8, 9];
        var same = WeightQuality.Agreement("", a, a);
        Assert.Equal((5, 5, (int?)null, 1.0), (same.Tokens, same.Identical, same.FirstDivergence, same.Fraction));
        var changed = WeightQuality.Agreement("", a, [5, 6, 0, 8, 9]);
        Assert.Equal((4, (int?)2), (changed.Identical, changed.FirstDivergence));
        var shorter = WeightQuality.Agreement("", a, [5, 6, 7]);
        Assert.Equal((5, 3, (int?)3), (shorter.Tokens, shorter.Identical, shorter.FirstDivergence));
    }

    [Fact]
    public void Verification_spread_of_identical_rows_is_zero_and_a_flipped_argmax_shows_as_a_gap()
    {
        float[][] rows = [[0f, 1f, 2f, 0.5f, -1f, 3f], [1f, 0f, 0f, 0f, 0f, 0f]];       // vocab 3: 2 + 2 rows
        var same = WeightQuality.Spread(rows, rows, vocab: 3);
        Assert.Equal(new VerificationSpread(4, 0, 0, 0, 0, 0, 0, 0), same);

        // B's first row prefers token 0 over A's argmax 2 by 0.5 nats.
        float[][] other = [[2.5f, 1f, 2f, 0.5f, -1f, 3f], [1f, 0f, 0f, 0f, 0f, 0f]];
        var flipped = WeightQuality.Spread(rows, other, vocab: 3);
        Assert.Equal((4, 1), (flipped.Rows, flipped.ArgmaxDiffers));
        Assert.Equal(0.5, flipped.MaxGreedyGap, 5);
        Assert.True(flipped.MaxDistance > 0 && flipped.P999Distance == flipped.MaxDistance && flipped.MeanDistance <= flipped.MaxDistance);
        Assert.True(flipped.MaxChosenDifference > 0 && flipped.MaxChosenDifference <= flipped.MaxDistance);

        // An exact tie (bf16 rounds many logits onto one value): B's top list may name the other token, but nothing is
        // above A's, so no gap and no flip.
        float[][] tie = [[0f, 2f, 2f]];
        float[][] tieB = [[0f, 2f, 2f]];
        var tied = WeightQuality.Spread(tie, tieB, vocab: 3);
        Assert.Equal((0, 0.0), (tied.ArgmaxDiffers, tied.MaxGreedyGap));
    }

    [Fact]
    public void Verification_spread_of_a_store_against_itself_is_zero()
    {
        string model = Path.Combine(RepoPaths.ModelsDir, "stories260K");
        var report = WeightQuality.Compare(model, model, ComputeTarget.Cpu, new QualityOptions(["", "Once upon a time"], GreedyTokens: 1, HeldStories: 0));
        Assert.True(report.Verification.Rows == report.LogitPositions && report.Verification.Rows > 0);
        Assert.Equal(new VerificationSpread(report.LogitPositions, 0, 0, 0, 0, 0, 0, 0), report.Verification);
    }
}
