using ActorLlm.Inference.Tokenization;
using Xunit;

namespace ActorLlm.Inference.Tests.Tokenization;

/// <summary>
/// The test model with a tokenizer.json larger than a message may carry (as Llama 3's is): still valid, and the
/// byte-level fixture's own ids encode and decode exactly as before the padding.
/// </summary>
public sealed class LargeTokenizerTests : IDisposable
{
    private readonly TempDir _dir = new();

    [Fact]
    public void The_padded_tokenizer_is_over_6_MiB_and_keeps_the_fixtures_ids()
    {
        string dir = TestModels.WriteLargeTokenizerModel(_dir["model"]);
        Assert.True(new FileInfo(Path.Combine(dir, "tokenizer.json")).Length > 6L << 20);

        var original = TextTokenizer.Load(TestModels.ByteLevelTokenizerDir);
        var padded = TextTokenizer.Load(dir);
        foreach (string text in new[] { "Once upon a time", "Hello, tokenizer world! 123", "<|begin_of_text|>hi" })
        {
            Assert.Equal(original.Encode(text), padded.Encode(text));
        }

        Assert.True(padded.VocabSize >= 512, "every id the model emits decodes");
        Assert.Equal("<|pad_0|>", padded.Decode([301]));
    }

    public void Dispose() => _dir.Dispose();
}
