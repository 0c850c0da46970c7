using System.Text.Json;
using ActorLlm.Inference.Tokenization;
using Xunit;

namespace ActorLlm.Inference.Tests.Tokenization;

/// <summary>
/// The bundled stories260K tokenizer.json: SentencePiece-style BPE with byte fallback, like Llama 2.
/// Expected ids come from Hugging Face (models/stories260K/tokenizer-vectors.json) or, where marked,
/// from Hugging Face's tokenizers.js port run over the same tokenizer.json.
/// </summary>
public class Stories260KTokenizerTests
{
    private static readonly string s_modelDirectory = Path.Combine(RepoPaths.ModelsDir, "stories260K");
    private static readonly Lazy<TextTokenizer> s_tokenizer = new(() => TextTokenizer.Load(s_modelDirectory));

    private static TextTokenizer Tokenizer => s_tokenizer.Value;

    public static TheoryData<string, int[]> HuggingFaceVectors()
    {
        using var document = JsonDocument.Parse(File.ReadAllText(Path.Combine(s_modelDirectory, "tokenizer-vectors.json")));
        var data = new TheoryData<string, int[]>();
        foreach (var testCase in document.RootElement.GetProperty("cases").EnumerateArray())
        {
            data.Add(
                testCase.GetProperty("text").GetString()!,
                testCase.GetProperty("ids").EnumerateArray().Select(id => id.GetInt32()).ToArray());
        }

        return data;
    }

    public static TheoryData<string> RoundTripTexts => TokenizerAssertions.RoundTripTexts;

    [Theory]
    [MemberData(nameof(HuggingFaceVectors))]
    public void Encode_reproduces_Hugging_Face_ids(string text, int[] expected) =>
        Assert.Equal(expected, Tokenizer.Encode(text));

    [Theory]
    [MemberData(nameof(HuggingFaceVectors))]
    public void Decode_of_Hugging_Face_ids_is_the_text(string text, int[] ids) =>
        Assert.Equal(text, Tokenizer.Decode(ids));

    [Theory]
    [MemberData(nameof(HuggingFaceVectors))]
    public void EncodeUtf8_matches_Encode(string text, int[] expected) =>
        Assert.Equal(expected, Tokenizer.EncodeUtf8(System.Text.Encoding.UTF8.GetBytes(text)));

    [Fact]
    public void Special_tokens_and_sizes_come_from_the_config_files()
    {
        Assert.Equal(512, Tokenizer.VocabSize);
        Assert.Equal(1, Tokenizer.BosId);
        Assert.Equal(new HashSet<int> { 2 }, Tokenizer.EosIds);
        Assert.True(Tokenizer.AddBos);
    }

    [Fact]
    public void Empty_text_is_just_BOS()
    {
        Assert.Equal([1], Tokenizer.Encode(string.Empty));
        Assert.Empty(Tokenizer.Encode(string.Empty, addSpecialTokens: false));
    }

    [Fact]
    public void Emoji_falls_back_to_its_four_UTF8_bytes()
    {
        // 🙂 is F0 9F 99 82; <0xNN> is id 3 + NN in this vocabulary, and "▁" (id 410) is the dummy prefix.
        Assert.Equal([410, 0xF0 + 3, 0x9F + 3, 0x99 + 3, 0x82 + 3], Tokenizer.Encode("🙂", addSpecialTokens: false));
    }

    [Theory]
    // Expected ids from tokenizers.js over this tokenizer.json. Special tokens in the text are matched
    // whole; the text after one gets its own "▁" prefix (Hugging Face's legacy behavior, legacy: true).
    [InlineData("Hello<s>world", new[] { 1, 346, 306, 414, 1, 263, 304, 341 })]
    [InlineData("a</s> b", new[] { 1, 261, 2, 410, 268 })]
    [InlineData("  two  spaces ", new[] { 1, 410, 410, 259, 424, 414, 410, 262, 427, 412, 331, 419, 410 })]
    public void Encode_matches_tokenizers_js(string text, int[] expected) =>
        Assert.Equal(expected, Tokenizer.Encode(text));

    [Fact]
    public void Decode_keeps_special_tokens_when_asked()
    {
        int[] ids = [1, 403, 407, 261, 378, 432, 383, 286, 261, 400, 428];

        // As Hugging Face: "<s>" then the words; the Strip decoder only removes a space that begins the text.
        Assert.Equal("<s> Once upon a time, there was a dog", Tokenizer.Decode(ids, skipSpecialTokens: false));
        Assert.Equal("Once upon a time, there was a dog", Tokenizer.Decode(ids));
    }

    [Fact]
    public void Streaming_holds_back_an_emoji_until_its_last_byte()
    {
        var decoder = Tokenizer.CreateStreamingDecoder();
        Assert.Equal(string.Empty, decoder.Push(1));
        Assert.Equal("Hi", string.Concat(Tokenizer.Encode("Hi", addSpecialTokens: false).Select(decoder.Push)));

        // " 🙂": "▁" then the four byte tokens; the space shows at once, the emoji only when complete.
        Assert.Equal(" ", decoder.Push(410));
        Assert.Equal(string.Empty, decoder.Push(0xF0 + 3));
        Assert.Equal(string.Empty, decoder.Push(0x9F + 3));
        Assert.Equal(string.Empty, decoder.Push(0x99 + 3));
        Assert.Equal("🙂", decoder.Push(0x82 + 3));
        Assert.Equal(string.Empty, decoder.Flush());
    }

    [Fact]
    public void Streaming_strips_the_leading_space_only_at_the_very_start()
    {
        var decoder = Tokenizer.CreateStreamingDecoder();
        var once = Tokenizer.Encode("Once once", addSpecialTokens: false);

        Assert.Equal("Once", decoder.Push(once[0]));
        Assert.Equal(" once", string.Concat(once.Skip(1).Select(decoder.Push)));
    }

    [Fact]
    public void Flush_turns_an_unfinished_character_into_a_replacement_character()
    {
        var decoder = Tokenizer.CreateStreamingDecoder();
        Assert.Equal(string.Empty, decoder.Push(0xF0 + 3));
        Assert.Equal("\uFFFD", decoder.Flush());
    }

    [Theory]
    [MemberData(nameof(RoundTripTexts))]
    public void Decode_of_Encode_is_the_text(string text) => TokenizerAssertions.RoundTrips(Tokenizer, text);

    [Theory]
    [MemberData(nameof(RoundTripTexts))]
    public void Streaming_decode_equals_Decode(string text) => TokenizerAssertions.StreamsLikeDecode(Tokenizer, text);
}
