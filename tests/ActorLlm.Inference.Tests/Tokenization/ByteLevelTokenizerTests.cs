using System.Text.Json;
using ActorLlm.Inference.Tokenization;
using Xunit;

namespace ActorLlm.Inference.Tests.Tokenization;

/// <summary>
/// A Llama-3-style byte-level BPE tokenizer.json built for these tests
/// (fixtures/tokenizers/make_byte_level_fixture.py): ids 0..255 are the bytes (id == byte value),
/// merges 0..36 make ids 256..292 (merge rank r makes id 256 + r), id 293 is "Ġtokenizer" (reachable
/// only through ignore_merges), added tokens are 294..300. "Ġ" is the byte-level spelling of a space.
/// Every expected id list was derived by hand as commented and agrees with Hugging Face's tokenizers.js.
/// </summary>
public class ByteLevelTokenizerTests
{
    private const int BeginOfText = 294;
    private const int EndOfText = 295;
    private const int StartHeader = 296;
    private const int EndHeader = 297;
    private const int EndOfTurn = 298;
    private const int ToolCall = 300;

    private static readonly string s_directory = Path.Combine(RepoPaths.FixturesDir, "tokenizers", "llama3-style-byte-level");
    private static readonly Lazy<TextTokenizer> s_tokenizer = new(() => TextTokenizer.Load(s_directory));

    private static TextTokenizer Tokenizer => s_tokenizer.Value;

    public static TheoryData<string> RoundTripTexts => TokenizerAssertions.RoundTripTexts;

    [Theory]
    // "Hello", " world": both whole words in the vocabulary (ignore_merges), as merges would also give.
    [InlineData("Hello world", new[] { BeginOfText, 269, 274 })]
    // " string" = Ġ s t r i n g. Lowest rank first: "i n" (3) → in; "in g" (4) → ing; "Ġ s" (35) → Ġs;
    // "Ġs t" (36) → Ġst. "r" (114) merges with nothing.
    [InlineData("hello the string", new[] { BeginOfText, 266, 258, 292, 114, 260 })]
    // Split regex: "café", " 🙂", " 你". "café" is in the vocabulary (281). " 🙂" = Ġ F0 9F 99 82: "ð Ł" (26)
    // joins F0 9F → 282, bytes 0x99 and 0x82 stay (153, 130). " 你" = Ġ E4 BD A0 → "ä ½" then "ä½ ł" → 284.
    [InlineData("café 🙂 你", new[] { BeginOfText, 281, 32, 282, 153, 130, 32, 284 })]
    // Digits split in groups of three: "123" (286), "45" (no merge: 52, 53); " it" → Ġi (288) t (116); "'s" (287).
    [InlineData("12345 it's", new[] { BeginOfText, 286, 52, 53, 288, 116, 287 })]
    // "line" → l in e; "\n\n\n" → "Ċ Ċ" (19) leftmost first → ĊĊ Ċ; "next" has no merges.
    [InlineData("line\n\n\nnext", new[] { BeginOfText, 108, 259, 101, 275, 10, 110, 101, 120, 116 })]
    // "\s+(?!\S)" leaves the last space to the word: "   " → ĠĠ Ġ, " four" → Ġ f o u r.
    [InlineData("    four", new[] { BeginOfText, 276, 32, 32, 102, 111, 117, 114 })]
    // Added tokens are matched whole; "user" → u s er; "\n\n" → ĊĊ; "Hi" has no merges.
    [InlineData("<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>",
        new[] { BeginOfText, StartHeader, 117, 115, 261, EndHeader, 275, 72, 105, EndOfTurn })]
    [InlineData("<tool_call>x", new[] { BeginOfText, ToolCall, 120 })]
    // ignore_merges: " tokenizer" is one vocabulary entry although no merge sequence builds it.
    [InlineData(" tokenizer", new[] { BeginOfText, 293 })]
    [InlineData("", new[] { BeginOfText })]
    public void Encode_gives_the_hand_derived_ids(string text, int[] expected) =>
        Assert.Equal(expected, Tokenizer.Encode(text));

    [Fact]
    public void Special_tokens_come_from_the_template_and_config_files()
    {
        Assert.Equal(301, Tokenizer.VocabSize);
        Assert.Equal(BeginOfText, Tokenizer.BosId);
        Assert.True(Tokenizer.AddBos); // from the post_processor template; tokenizer_config has no add_bos_token

        // generation_config lists [end_of_text, eot]; config.json says end_of_text; tokenizer_config says eot.
        Assert.Equal(new HashSet<int> { EndOfText, EndOfTurn }, Tokenizer.EosIds);
    }

    [Fact]
    public void Decode_skips_special_tokens_but_keeps_other_added_tokens()
    {
        var ids = Tokenizer.Encode("<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><tool_call>");

        Assert.Equal("user\n\nHi<tool_call>", Tokenizer.Decode(ids));
        Assert.Equal(
            "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><tool_call>",
            Tokenizer.Decode(ids, skipSpecialTokens: false));
    }

    [Fact]
    public void Special_tokens_in_untrusted_text_can_be_encoded_as_plain_text()
    {
        const string text = "<|eot_id|>x<tool_call>";

        // Split regex: "<|", "eot", "_id", "|>", "x" (no merges apply); <tool_call> is not special, so it is
        // still matched whole.
        var ids = Tokenizer.Encode(text, addSpecialTokens: false, parseSpecialTokens: false);

        Assert.Equal([60, 124, 101, 111, 116, 95, 105, 100, 124, 62, 120, ToolCall], ids);
        Assert.Equal(text, Tokenizer.Decode(ids));
        Assert.Equal([EndOfTurn, 120, ToolCall], Tokenizer.Encode(text, addSpecialTokens: false));
    }

    [Fact]
    public void Streaming_holds_back_an_emoji_split_across_byte_level_tokens()
    {
        var decoder = Tokenizer.CreateStreamingDecoder();

        // 🙂 = F0 9F 99 82 as "ðŁ" (F0 9F), 0x99, 0x82.
        Assert.Equal(string.Empty, decoder.Push(282));
        Assert.Equal(string.Empty, decoder.Push(0x99));
        Assert.Equal("🙂", decoder.Push(0x82));
        Assert.Equal(string.Empty, decoder.Flush());
    }

    [Fact]
    public void Without_ignore_merges_the_word_is_built_by_merges()
    {
        // " tokenizer" = Ġ t o k e n i z e r: "Ġ t" (0) → Ġt, "e r" (5) → er, "Ġt o" (34) → Ġto.
        var model = LoadFixtureModel(ignoreMerges: false);
        var ids = new List<int>();
        model.EncodeWord("Ġtokenizer", ids);

        Assert.Equal([290, 107, 101, 110, 105, 122, 261], ids);
    }

    [Theory]
    // Oniguruma matches code points: "[^\r\n\p{L}\p{N}]?\p{L}+" takes an emoji as the optional prefix of a
    // word, and a supplementary letter (U+1D400 𝐀) is a letter. tokenizers.js splits these the same way.
    [InlineData("🙂abc", new[] { "🙂abc" })]
    [InlineData("𝐀𝐁 x", new[] { "𝐀𝐁", " x" })]
    [InlineData("x 🙂abc", new[] { "x", " 🙂", "abc" })]
    public void Split_regex_matches_code_points_not_UTF16_units(string text, string[] expectedWords)
    {
        using var document = JsonDocument.Parse(File.ReadAllText(Path.Combine(s_directory, "tokenizer.json")));
        var preTokenizer = PreTokenizerPipeline.Parse(document.RootElement.GetProperty("pre_tokenizer"));

        Assert.Equal(expectedWords.Select(ByteLevelAlphabet.Encode), preTokenizer.Split(text, atTextStart: true));
    }

    [Theory]
    [MemberData(nameof(RoundTripTexts))]
    public void Decode_of_Encode_is_the_text(string text) => TokenizerAssertions.RoundTrips(Tokenizer, text);

    [Theory]
    [MemberData(nameof(RoundTripTexts))]
    public void Streaming_decode_equals_Decode(string text) => TokenizerAssertions.StreamsLikeDecode(Tokenizer, text);

    private static BpeModel LoadFixtureModel(bool ignoreMerges)
    {
        using var document = JsonDocument.Parse(File.ReadAllText(Path.Combine(s_directory, "tokenizer.json")));
        var model = document.RootElement.GetProperty("model");
        var vocab = model.GetProperty("vocab").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetInt32());
        var merges = model.GetProperty("merges").EnumerateArray()
            .Select(m => m.GetString()!.Split(' '))
            .Select(parts => (parts[0], parts[1]))
            .ToList();
        return new BpeModel(vocab, merges, unknownToken: null, fuseUnknown: false, byteFallback: false, ignoreMerges);
    }
}
