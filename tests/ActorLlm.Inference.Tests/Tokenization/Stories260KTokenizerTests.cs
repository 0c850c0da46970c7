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
    public void Streaming_holds_back_a_run_of_byte_tokens_until_it_ends()
    {
        var decoder = Tokenizer.CreateStreamingDecoder();
        Assert.Equal(string.Empty, decoder.Push(1));
        Assert.Equal("Hi", string.Concat(Tokenizer.Encode("Hi", addSpecialTokens: false).Select(decoder.Push)));

        // " 🙂 🙂": "▁" then the four byte tokens, twice. The space shows at once; the emoji when the run of byte
        // tokens ends, because one more byte could still make the whole run invalid (see Decode_of_a_byte_run_*).
        Assert.Equal(" ", decoder.Push(410));
        Assert.Equal(string.Empty, decoder.Push(0xF0 + 3));
        Assert.Equal(string.Empty, decoder.Push(0x9F + 3));
        Assert.Equal(string.Empty, decoder.Push(0x99 + 3));
        Assert.Equal(string.Empty, decoder.Push(0x82 + 3));
        Assert.Equal("🙂 ", decoder.Push(410));
        foreach (var id in new[] { 0xF0 + 3, 0x9F + 3, 0x99 + 3, 0x82 + 3 })
        {
            Assert.Equal(string.Empty, decoder.Push(id));
        }

        Assert.Equal("🙂", decoder.Flush());
    }

    [Theory]
    // Regression (found by HuggingFaceDifferentialTests): Hugging Face's ByteFallback decoder turns a run of
    // <0xNN> tokens that is not valid UTF-8 into one U+FFFD per byte of the whole run, complete characters in it
    // included; a plain UTF-8 decoder would give "é" and one U+FFFD. <0xNN> is id 3 + NN here, "▁" is 410.
    [InlineData(new[] { 0xC3 + 3, 0xA9 + 3, 0xFF + 3 }, "\uFFFD\uFFFD\uFFFD")]
    [InlineData(new[] { 0x69 + 3, 0xCA + 3, 0x0E + 3 }, "\uFFFD\uFFFD\uFFFD")]
    [InlineData(new[] { 0xE2 + 3, 0x82 + 3, 430, 0xE2 + 3 }, "\uFFFD\uFFFDb\uFFFD")]
    // A token that is not a byte ends the run; so does the end of the ids.
    [InlineData(new[] { 0xC3 + 3, 0xA9 + 3, 410, 0xFF + 3 }, "é \uFFFD")]
    // Skipped special tokens are dropped before decoding, so the run goes on across them.
    [InlineData(new[] { 0xC3 + 3, 2, 0xA9 + 3 }, "é")]
    // The leading-space strip applies to the decoded text: an invalid run starting with byte 0x20 is all U+FFFD.
    [InlineData(new[] { 0x20 + 3, 0xFF + 3 }, "\uFFFD\uFFFD")]
    [InlineData(new[] { 0x20 + 3, 0x61 + 3 }, "a")]
    public void Decode_of_a_byte_run_follows_Hugging_Face_ByteFallback(int[] ids, string expected)
    {
        Assert.Equal(expected, Tokenizer.Decode(ids));

        var decoder = Tokenizer.CreateStreamingDecoder();
        var chunks = ids.Select(decoder.Push).ToList();
        Assert.Equal(expected, string.Concat(chunks) + decoder.Flush());
    }

    [Fact]
    public void Decode_keeps_a_special_token_between_byte_runs_when_asked()
    {
        // Not skipped, "</s>" ends the run: C3 alone and A9 alone are each invalid.
        Assert.Equal("\uFFFD</s>\uFFFD", Tokenizer.Decode([0xC3 + 3, 2, 0xA9 + 3], skipSpecialTokens: false));
    }

    [Fact]
    public void Streaming_returns_the_replacement_characters_of_an_invalid_run_at_once()
    {
        var decoder = Tokenizer.CreateStreamingDecoder();
        Assert.Equal(string.Empty, decoder.Push(0xC3 + 3));
        Assert.Equal(string.Empty, decoder.Push(0xA9 + 3));
        Assert.Equal("\uFFFD\uFFFD\uFFFD", decoder.Push(0xFF + 3));
        Assert.Equal("\uFFFD", decoder.Push(0x41 + 3));
        Assert.Equal(" ", decoder.Push(410));
        Assert.Equal(string.Empty, decoder.Flush());
    }

    [Fact]
    public void Priming_with_a_prompt_that_ends_in_byte_tokens_returns_only_the_new_text()
    {
        // "I 🙂" ends with the emoji's four byte tokens; the text of the prompt is not repeated after it.
        var decoder = Tokenizer.CreateStreamingDecoder();
        decoder.Prime(Tokenizer.Encode("I 🙂"));

        Assert.Equal(" a", decoder.Push(261));
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
