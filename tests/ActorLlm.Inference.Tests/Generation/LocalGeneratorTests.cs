using ActorLlm.Inference.Checkpoints;
using ActorLlm.Inference.Devices;
using ActorLlm.Inference.Execution;
using ActorLlm.Inference.Generation;
using ActorLlm.Inference.Sampling;
using ActorLlm.Inference.Tokenization;
using ActorLlm.Protocol;
using Xunit;

namespace ActorLlm.Inference.Tests.Generation;

public sealed class LocalGeneratorTests : IDisposable
{
    private const string Expected = "Once upon a time, there was a little girl named Lily. She loved to play outside in the park.";
    private readonly LocalGenerator _generator = LocalGenerator.Load(RepoPaths.Stories260K, ComputeTarget.Cpu, new KvCacheOptions(8, 512));

    [Fact]
    public void Stories260K_greedy_from_BOS_tells_the_known_story()
    {
        var result = _generator.Generate("", new GenerationOptions { MaxTokens = 40 });
        Assert.StartsWith(Expected, result.Text);
        Assert.Equal(FinishReason.Length, result.Finish);
        Assert.Equal(40, result.GeneratedIds.Length);
        Assert.Equal([1], result.PromptIds);
    }

    [Fact]
    public void A_prompt_continues_with_its_leading_space_and_the_streamed_text_equals_the_result()
    {
        var streamed = new System.Text.StringBuilder();
        var result = _generator.Generate("Once upon a time, there was a dog", new GenerationOptions { MaxTokens = 12 }, d => streamed.Append(d));
        Assert.StartsWith(" named Max. Max loved to play", result.Text);
        Assert.Equal(result.Text, streamed.ToString());
    }

    [Fact]
    public void The_model_split_into_three_stages_generates_the_same_text()
    {
        using var source = HfCheckpoint.Open(RepoPaths.Stories260K);
        int end = source.Config.UnitCount;
        var stages = new[] { new UnitRange(0, 2), new UnitRange(2, 5), new UnitRange(5, end) }
            .Select(r => StageExecutor.Load(source, r, ComputeTarget.Cpu, new KvCacheOptions(2, 512)))
            .ToArray();
        using var split = new LocalGenerator(TextTokenizer.Load(RepoPaths.Stories260K), stages);
        var options = new GenerationOptions { MaxTokens = 30 };
        Assert.Equal(_generator.Generate("", options).Text, split.Generate("", options).Text);
    }

    [Fact]
    public void Same_seed_gives_the_same_text_and_top_k_one_equals_greedy()
    {
        var sampled = new GenerationOptions { MaxTokens = 30, Sampling = new SamplingParams { Temperature = 1f, Seed = 11 } };
        string a = _generator.Generate("Tim", sampled).Text;
        Assert.Equal(a, _generator.Generate("Tim", sampled).Text);
        Assert.NotEqual(a, _generator.Generate("Tim", sampled with { Sampling = sampled.Sampling with { Seed = 12 } }).Text);

        var greedy = _generator.Generate("Tim", new GenerationOptions { MaxTokens = 30 }).Text;
        var topOne = _generator.Generate("Tim", sampled with { Sampling = new SamplingParams { Temperature = 1.5f, TopK = 1, Seed = 99 } }).Text;
        Assert.Equal(greedy, topOne);
    }

    [Fact]
    public void Stop_strings_end_the_text_before_them()
    {
        var result = _generator.Generate("", new GenerationOptions { MaxTokens = 60, StopStrings = ["Lily."] });
        Assert.Equal("Once upon a time, there was a little girl named ", result.Text);
        Assert.Equal(FinishReason.Stop, result.Finish);
    }

    [Fact]
    public void Choice_scoring_ranks_the_planted_answer_first()
    {
        // The model's own greedy continuation is the planted answer; the others are implausible for it.
        string planted = _generator.Generate("Once upon a time, there was a little girl named", new GenerationOptions { MaxTokens = 2 }).Text;
        var scores = _generator.Score("Once upon a time, there was a little girl named", [" zebra fish", planted, " purple", " 42"]);
        Assert.Equal(planted, scores[0].Choice);
        Assert.Equal(4, scores.Count);
        Assert.True(scores.Zip(scores.Skip(1)).All(p => p.First.LogProbability >= p.Second.LogProbability));
        Assert.All(scores, s => Assert.True(s.LogProbability < 0));
    }

    [Fact]
    public void Choice_scores_equal_the_sum_of_token_log_probabilities_computed_one_token_at_a_time()
    {
        var score = _generator.Score("Lily went to the", [" park"]).Single();
        int[] prompt = _generator.EncodePrompt("Lily went to the");
        var (sequence, start) = ChoiceScoring.Sequence(_generator.Tokenizer, "Lily went to the", prompt, " park");
        using var source = HfCheckpoint.Open(RepoPaths.Stories260K);
        using var stage = StageExecutor.Load(source, UnitRange.Whole(source.Config.NumLayers), ComputeTarget.Cpu);
        using var all = stage.Forward([new StageInput(SessionId.New(), 0, sequence, AllLogits: true)])[0];
        double expected = 0;
        for (int p = start; p < sequence.Length; p++)
        {
            var row = TensorAssert.Rows(all.Logits!)[p - 1];
            double max = row.Max();
            double logSum = max + Math.Log(row.Sum(v => Math.Exp(v - max)));
            expected += row[sequence[p]] - logSum;
        }

        Assert.Equal(expected, score.LogProbability, 4);
    }

    [Fact]
    public void A_prompt_longer_than_the_context_is_refused_and_the_generator_stays_usable()
    {
        string longPrompt = string.Concat(Enumerable.Repeat("word ", 600));
        var error = Assert.Throws<InvalidRequestException>(() => _generator.Generate(longPrompt, new GenerationOptions()));
        Assert.Contains("context", error.Message);
        Assert.StartsWith("Once upon a time", _generator.Generate("", new GenerationOptions { MaxTokens = 5 }).Text);
    }

    public void Dispose() => _generator.Dispose();
}
