using System.Text.Json;
using ActorLlm.Inference.Tokenization;
using Xunit;

namespace ActorLlm.Inference.Tests.Tokenization;

/// <summary>
/// A real SentencePiece tokenizer.model trained by Google's sentencepiece with Llama 2's settings
/// (fixtures/tokenizers/make_sentencepiece_fixture.py); expected ids are sentencepiece's own, with BOS
/// added in front as Hugging Face's LlamaTokenizer does (add_bos_token: true).
/// </summary>
public class SentencePieceModelTokenizerTests
{
    private static readonly string s_directory = Path.Combine(RepoPaths.FixturesDir, "tokenizers", "sentencepiece-bpe");
    private static readonly Lazy<TextTokenizer> s_tokenizer = new(() => TextTokenizer.Load(s_directory));

    private static TextTokenizer Tokenizer => s_tokenizer.Value;

    public static TheoryData<string, int[]> SentencePieceVectors()
    {
        var data = new TheoryData<string, int[]>();
        foreach (var (text, ids) in ReadVectors("cases"))
        {
            data.Add(text, ids);
        }

        return data;
    }

    private static IEnumerable<(string Text, int[] Ids)> ReadVectors(string group)
    {
        using var document = JsonDocument.Parse(File.ReadAllText(Path.Combine(s_directory, "sentencepiece-vectors.json")));
        return document.RootElement.GetProperty(group).EnumerateArray()
            .Select(c => (c.GetProperty("text").GetString()!, c.GetProperty("ids").EnumerateArray().Select(id => id.GetInt32()).ToArray()))
            .ToList();
    }

    public static TheoryData<string> RoundTripTexts => TokenizerAssertions.RoundTripTexts;

    [Theory]
    [MemberData(nameof(SentencePieceVectors))]
    public void Encode_reproduces_sentencepiece_ids(string text, int[] expected)
    {
        Assert.Equal(expected, Tokenizer.Encode(text, addSpecialTokens: false));
        Assert.Equal([1, .. expected], Tokenizer.Encode(text));
    }

    [Fact]
    public void Encode_reproduces_sentencepiece_ids_on_random_text()
    {
        foreach (var (text, expected) in ReadVectors("random_cases"))
        {
            var actual = Tokenizer.Encode(text, addSpecialTokens: false);
            Assert.True(expected.SequenceEqual(actual), $"{JsonSerializer.Serialize(text)}: expected [{string.Join(',', expected)}], got [{string.Join(',', actual)}]");
            Assert.Equal(text, Tokenizer.Decode(actual));
        }
    }

    [Theory]
    [MemberData(nameof(SentencePieceVectors))]
    public void Decode_of_sentencepiece_ids_is_the_text(string text, int[] ids) =>
        Assert.Equal(text, Tokenizer.Decode(ids));

    [Fact]
    public void Special_tokens_come_from_the_model_and_tokenizer_config()
    {
        Assert.Equal(400, Tokenizer.VocabSize);
        Assert.Equal(1, Tokenizer.BosId);
        Assert.Equal(new HashSet<int> { 2 }, Tokenizer.EosIds);
        Assert.True(Tokenizer.AddBos);
    }

    [Fact]
    public void Control_tokens_in_the_text_are_matched_whole_like_Hugging_Face()
    {
        var ids = Tokenizer.Encode("a</s> b", addSpecialTokens: false);

        // "a", "</s>", " b"; as in Hugging Face's legacy Llama tokenizer, the run after a special token gets
        // its own dummy prefix, so " b" is "▁▁b" and decodes with two spaces.
        Assert.Equal(2, ids[1]);
        Assert.Equal("a  b", Tokenizer.Decode(ids));
        Assert.Equal("a</s>  b", Tokenizer.Decode(ids, skipSpecialTokens: false));
    }

    [Theory]
    [MemberData(nameof(RoundTripTexts))]
    public void Decode_of_Encode_is_the_text(string text) => TokenizerAssertions.RoundTrips(Tokenizer, text);

    [Theory]
    [MemberData(nameof(RoundTripTexts))]
    public void Streaming_decode_equals_Decode(string text) => TokenizerAssertions.StreamsLikeDecode(Tokenizer, text);
}
