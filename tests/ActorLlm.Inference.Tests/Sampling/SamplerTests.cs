using ActorLlm.Inference.Sampling;
using FsCheck;
using FsCheck.Fluent;
using Xunit;
using static TorchSharp.torch;

namespace ActorLlm.Inference.Tests.Sampling;

public class SamplerTests
{
    private static float[] Logits(params float[] values) => values;

    [Fact]
    public void Greedy_picks_the_largest_logit_on_the_device_and_in_managed_code()
    {
        var row = Logits(0.1f, 2.5f, -1f, 2.4f);
        Assert.Equal(1, Sampler.Sample((float[])row.Clone(), SamplingParams.Greedy, [], 0));
        using var t = tensor(row);
        Assert.Equal(1, Sampler.Sample(t, SamplingParams.Greedy, [], 0));
    }

    [Fact]
    public void Top_k_of_one_equals_greedy_whatever_the_temperature_and_seed()
    {
        var gen = Gen.ArrayOf(Gen.Choose(-1000, 1000).Select(i => i / 100f)).Where(a => a.Length > 1);
        Prop.ForAll(gen.ToArbitrary(), Gen.Choose(0, int.MaxValue).ToArbitrary(), (row, seed) =>
        {
            var p = new SamplingParams { Temperature = 1.3f, TopK = 1, Seed = (ulong)seed };
            return Sampler.Sample((float[])row.Clone(), p, [], 5) == Sampler.ArgMax(row);
        }).QuickCheckThrowOnFailure();
    }

    [Fact]
    public void Same_seed_and_position_give_the_same_token_and_seeds_differ()
    {
        var row = Enumerable.Range(0, 50).Select(i => (float)Math.Sin(i)).ToArray();
        var p = new SamplingParams { Temperature = 1f, Seed = 42 };
        var first = Enumerable.Range(0, 200).Select(pos => Sampler.Sample((float[])row.Clone(), p, [], pos)).ToArray();
        var again = Enumerable.Range(0, 200).Select(pos => Sampler.Sample((float[])row.Clone(), p, [], pos)).ToArray();
        var other = Enumerable.Range(0, 200).Select(pos => Sampler.Sample((float[])row.Clone(), p with { Seed = 43 }, [], pos)).ToArray();
        Assert.Equal(first, again);
        Assert.NotEqual(first, other);
    }

    [Fact]
    public void Sampling_follows_the_softmax_distribution()
    {
        // p = softmax([ln 1, ln 2, ln 7]) = [0.1, 0.2, 0.7]; 20000 draws land within a few standard errors.
        var row = Logits(0f, MathF.Log(2), MathF.Log(7));
        var p = new SamplingParams { Temperature = 1f, Seed = 7 };
        var counts = new int[3];
        for (int pos = 0; pos < 20000; pos++)
        {
            counts[Sampler.Sample((float[])row.Clone(), p, [], pos)]++;
        }

        Assert.InRange(counts[0] / 20000.0, 0.09, 0.11);
        Assert.InRange(counts[1] / 20000.0, 0.185, 0.215);
        Assert.InRange(counts[2] / 20000.0, 0.68, 0.72);
    }

    [Fact]
    public void Top_p_keeps_the_smallest_set_reaching_p()
    {
        // probabilities 0.7, 0.2, 0.1: top-p 0.75 keeps the first two, never the third.
        var row = Logits(MathF.Log(7), MathF.Log(2), 0f);
        var p = new SamplingParams { Temperature = 1f, TopP = 0.75f, Seed = 1 };
        var drawn = Enumerable.Range(0, 5000).Select(pos => Sampler.Sample((float[])row.Clone(), p, [], pos)).ToHashSet();
        Assert.Equal([0, 1], drawn.Order());
    }

    [Fact]
    public void Top_k_never_draws_outside_the_k_best()
    {
        var row = Logits(1f, 5f, 3f, 4f, 2f);
        var p = new SamplingParams { Temperature = 5f, TopK = 2, Seed = 3 };
        var drawn = Enumerable.Range(0, 5000).Select(pos => Sampler.Sample((float[])row.Clone(), p, [], pos)).ToHashSet();
        Assert.Equal([1, 3], drawn.Order());
    }

    [Fact]
    public void Repetition_penalty_divides_positive_and_multiplies_negative_logits_of_seen_tokens()
    {
        // Token 0 leads (3.0) but was seen: 3.0 / 2 = 1.5 < 2.0, so greedy switches to token 1.
        var p = new SamplingParams { RepetitionPenalty = 2f };
        Assert.Equal(1, Sampler.Sample(Logits(3f, 2f, -1f), p, [0], 0));

        // A negative seen logit gets more negative: -0.5 * 2 = -1 < -0.8.
        Assert.Equal(2, Sampler.Sample(Logits(-0.5f, -2f, -0.8f), p, [0], 0));
    }

    [Theory]
    [InlineData(-1f, 0, 1f, 1f)]
    [InlineData(float.NaN, 0, 1f, 1f)]
    [InlineData(1f, -1, 1f, 1f)]
    [InlineData(1f, 0, 0f, 1f)]
    [InlineData(1f, 0, 1.5f, 1f)]
    [InlineData(1f, 0, 1f, 0f)]
    public void Invalid_parameters_are_rejected(float temperature, int topK, float topP, float penalty)
    {
        var p = new SamplingParams { Temperature = temperature, TopK = topK, TopP = topP, RepetitionPenalty = penalty };
        Assert.Throws<InvalidRequestException>(() => p.Validate());
    }

    [Fact]
    public void Logprobs_are_the_log_softmax_of_the_raw_row_with_the_most_likely_first()
    {
        float[] row = [1f, 3f, 2f, float.NegativeInfinity];
        double z = Math.Log(Math.Exp(1) + Math.Exp(3) + Math.Exp(2));
        using var t = tensor(row);
        var lp = Sampler.Logprobs(t, token: 2, top: 3);
        Assert.Equal(2 - z, lp.Logprob, 5);
        Assert.Equal([1, 2, 0], lp.TopIds);
        Assert.Equal([3 - z, 2 - z, 1 - z], lp.TopLogprobs.Select(x => (double)x), new ToleranceComparer(1e-5));

        var none = Sampler.Logprobs(t, token: 3, top: 0);
        Assert.Empty(none.TopIds);
        Assert.Equal(float.NegativeInfinity, none.Logprob);

        // More alternatives than the vocabulary has: all of them.
        Assert.Equal(4, Sampler.Logprobs(t, token: 0, top: 20).TopIds.Length);
    }

    private sealed class ToleranceComparer(double tolerance) : IEqualityComparer<double>
    {
        public bool Equals(double a, double b) => Math.Abs(a - b) <= tolerance;

        public int GetHashCode(double value) => 0;
    }
}
