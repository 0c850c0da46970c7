using ActorLlm.Inference.Tokenization;
using Xunit;

namespace ActorLlm.Inference.Tests.Tokenization;

/// <summary>One TextTokenizer is shared by all sessions of a node, so it must encode and decode from many threads at once.</summary>
public class TokenizerConcurrencyTests
{
    public static TheoryData<string> ModelDirectories => new()
    {
        Path.Combine(RepoPaths.ModelsDir, "stories260K"),
        Path.Combine(RepoPaths.FixturesDir, "tokenizers", "llama3-style-byte-level"),
        Path.Combine(RepoPaths.FixturesDir, "tokenizers", "sentencepiece-bpe"),
    };

    [Theory]
    [MemberData(nameof(ModelDirectories))]
    public void Concurrent_calls_give_the_same_results_as_sequential_ones(string modelDirectory)
    {
        var tokenizer = TextTokenizer.Load(modelDirectory);
        var texts = TokenizerAssertions.Texts;
        var expected = texts.Select(text => tokenizer.Encode(text)).ToArray();

        Parallel.For(0, 4000, new ParallelOptions { MaxDegreeOfParallelism = 8 }, i =>
        {
            var k = i % texts.Count;
            var ids = tokenizer.Encode(texts[k]);
            Assert.Equal(expected[k], ids);
            Assert.Equal(texts[k], tokenizer.Decode(ids));
        });
    }
}
