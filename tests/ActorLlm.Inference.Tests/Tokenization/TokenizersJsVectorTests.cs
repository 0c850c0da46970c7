using System.Text.Json;
using ActorLlm.Inference.Tokenization;
using Xunit;

namespace ActorLlm.Inference.Tests.Tokenization;

/// <summary>
/// Differential check against Hugging Face's tokenizers.js (a port of the Rust <c>tokenizers</c>, which
/// reproduces the stories260K vectors): 150 random concatenations of words, spaces, newlines, accents,
/// emoji, CJK, supplementary letters, digits and special tokens per tokenizer, ids recorded by
/// tokenizers.js 0.2.0 (see fixtures/tokenizers/README.md).
/// </summary>
public class TokenizersJsVectorTests
{
    private static readonly string s_fixtures = Path.Combine(RepoPaths.FixturesDir, "tokenizers");

    private static readonly Dictionary<string, Lazy<TextTokenizer>> s_tokenizers = new()
    {
        ["stories260K"] = new(() => TextTokenizer.Load(Path.Combine(RepoPaths.ModelsDir, "stories260K"))),
        ["llama3-style-byte-level"] = new(() => TextTokenizer.Load(Path.Combine(s_fixtures, "llama3-style-byte-level"))),
    };

    public static TheoryData<string> Tokenizers => new(s_tokenizers.Keys);

    [Theory]
    [MemberData(nameof(Tokenizers))]
    public void Encode_matches_tokenizers_js_on_random_text(string name)
    {
        var vectors = name == "stories260K"
            ? Path.Combine(s_fixtures, "stories260K-tokenizers-js-vectors.json")
            : Path.Combine(s_fixtures, name, "tokenizers-js-vectors.json");
        using var document = JsonDocument.Parse(File.ReadAllText(vectors));
        var tokenizer = s_tokenizers[name].Value;

        foreach (var testCase in document.RootElement.GetProperty("cases").EnumerateArray())
        {
            var text = testCase.GetProperty("text").GetString()!;
            var expected = testCase.GetProperty("ids").EnumerateArray().Select(id => id.GetInt32()).ToArray();
            var actual = tokenizer.Encode(text);
            Assert.True(expected.SequenceEqual(actual), $"{JsonSerializer.Serialize(text)}: expected [{string.Join(',', expected)}], got [{string.Join(',', actual)}]");
        }
    }
}
