using System.Text.Json.Nodes;
using ActorLlm.Inference.Tokenization;
using Xunit;

namespace ActorLlm.Inference.Tests.Tokenization;

/// <summary>
/// The other layouts Llama-family tokenizer.json files come in, made by editing the two fixtures:
/// Metaspace pre-tokenizer instead of the Prepend/Replace normalizer (newer SentencePiece-style exports,
/// legacy: false), GPT-2's ByteLevel pre-tokenizer with its own regex and optional prefix space.
/// Expected ids and texts are what Hugging Face's tokenizers.js 0.2.0 gives for the same edited files.
/// </summary>
public sealed class TokenizerJsonVariantTests : IDisposable
{
    private static readonly string s_stories260K = Path.Combine(RepoPaths.ModelsDir, "stories260K");
    private static readonly string s_byteLevel = Path.Combine(RepoPaths.FixturesDir, "tokenizers", "llama3-style-byte-level");
    private readonly List<string> _directories = [];

    [Theory]
    // "first": only the run at the start of the text gets "▁"; the run after </s> does not.
    [InlineData("first", "a</s>b", new[] { 1, 261, 2, 430 })]
    [InlineData("first", "a</s> b", new[] { 1, 261, 2, 268 })]
    [InlineData("always", "a</s>b", new[] { 1, 261, 2, 268 })]
    // The text already starts with "▁" after replacing spaces, so nothing is prepended.
    [InlineData("first", "  two  spaces ", new[] { 1, 410, 259, 424, 414, 410, 262, 427, 412, 331, 419, 410 })]
    [InlineData("first", "Héllo 🙂", new[] { 1, 320, 485, 306, 414, 410, 243, 162, 156, 133 })]
    [InlineData("first", "", new[] { 1 })]
    [InlineData("always", "12345 it's", new[] { 1, 410, 475, 479, 472, 484, 480, 312, 439, 419 })]
    [InlineData("always", "x\n\ny", new[] { 1, 410, 444, 13, 13, 422 })]
    public void Metaspace_pre_tokenizer_replaces_the_normalizer(string prependScheme, string text, int[] expected)
    {
        var tokenizer = Variant(s_stories260K, json =>
        {
            json["normalizer"] = null;
            json["pre_tokenizer"] = new JsonObject
            {
                ["type"] = "Metaspace",
                ["replacement"] = "\u2581",
                ["prepend_scheme"] = prependScheme,
                ["split"] = prependScheme == "always", // both settings of split give these ids
            };
        });

        Assert.Equal(expected, tokenizer.Encode(text));
        var decoder = tokenizer.CreateStreamingDecoder();
        Assert.Equal(tokenizer.Decode(expected), string.Concat(expected.Select(decoder.Push).ToList()) + decoder.Flush());
    }

    [Fact]
    public void Metaspace_decoder_strips_the_prefix_space_and_has_no_byte_fallback()
    {
        var tokenizer = Variant(s_stories260K, json =>
        {
            json["normalizer"] = null;
            json["pre_tokenizer"] = new JsonObject { ["type"] = "Metaspace", ["replacement"] = "\u2581", ["prepend_scheme"] = "always", ["split"] = false };
            json["decoder"] = new JsonObject { ["type"] = "Metaspace", ["replacement"] = "\u2581", ["prepend_scheme"] = "always", ["split"] = false };
        });

        Assert.Equal("Once upon a time", tokenizer.Decode([1, 403, 407, 261, 378]));

        // Without a ByteFallback decoder the byte tokens stay as written, as in Hugging Face.
        Assert.Equal("Héllo <0xF0><0x9F><0x99><0x82>", tokenizer.Decode([1, 320, 485, 306, 414, 410, 243, 162, 156, 133]));
    }

    [Theory]
    // GPT-2's regex keeps "\n" runs apart ("\s+(?!\S)" then "\s+"), so "\n\n" is not merged as with Llama 3's.
    [InlineData(false, "x\n\ny", new[] { 294, 120, 10, 10, 121 })]
    [InlineData(false, "Once upon a time", new[] { 294, 79, 110, 99, 101, 32, 117, 112, 263, 262, 256, 105, 109, 101 })]
    // add_prefix_space: each run of text gets a leading space unless it has one.
    [InlineData(true, "Hello world", new[] { 294, 32, 269, 274 })]
    [InlineData(true, "<|eot_id|>hello there", new[] { 294, 298, 32, 266, 258, 114, 101 })]
    [InlineData(true, " tokenizer", new[] { 294, 293 })]
    public void Gpt2_byte_level_pre_tokenizer(bool addPrefixSpace, string text, int[] expected)
    {
        var tokenizer = Variant(s_byteLevel, json => json["pre_tokenizer"] = new JsonObject
        {
            ["type"] = "ByteLevel",
            ["add_prefix_space"] = addPrefixSpace,
            ["trim_offsets"] = true,
            ["use_regex"] = true,
        });

        Assert.Equal(expected, tokenizer.Encode(text));

        // The ByteLevel decoder keeps the added prefix space, as Hugging Face does.
        Assert.Equal((addPrefixSpace && !text.StartsWith(' ') ? " " : string.Empty) + text.Replace("<|eot_id|>", string.Empty, StringComparison.Ordinal), tokenizer.Decode(expected));
    }

    [Theory]
    // Regression (found by HuggingFaceDifferentialTests): single_word means no regex \w character on either side, in
    // code points. \w holds marks (a combining tilde, a variation selector, ZWJ), "_", supplementary letters and the
    // circled letters, none of which char.IsLetterOrDigit on a UTF-16 unit saw. Expected ids from Hugging Face's
    // tokenizers (Rust, through Tokenizers.DotNet) over the same edited file.
    [InlineData("n\u0303<tool_call>", new[] { 294, 110, 204, 131, 60, 116, 111, 111, 108, 95, 279, 264, 62 })]
    [InlineData("\u2764\uFE0F<|eot_id|>", new[] { 294, 226, 157, 164, 239, 184, 143, 60, 124, 101, 111, 116, 95, 105, 100, 124, 62 })]
    [InlineData("\U0002000B<|eot_id|>", new[] { 294, 240, 160, 128, 139, 60, 124, 101, 111, 116, 95, 105, 100, 124, 62 })]
    [InlineData("<tool_call>_x", new[] { 294, 60, 116, 111, 111, 108, 95, 279, 264, 62, 95, 120 })]
    [InlineData("\u24B6<tool_call>", new[] { 294, 226, 146, 182, 60, 116, 111, 111, 108, 95, 279, 264, 62 })]
    [InlineData("<tool_call>\u200D", new[] { 294, 60, 116, 111, 111, 108, 95, 279, 264, 62, 226, 128, 141 })]
    // Punctuation and spaces are not word characters.
    [InlineData("(<tool_call>)", new[] { 294, 40, 300, 41 })]
    [InlineData("a <tool_call> b", new[] { 294, 97, 32, 300, 32, 98 })]
    public void Single_word_added_tokens_match_only_between_non_word_characters(string text, int[] expected)
    {
        var tokenizer = Variant(s_byteLevel, json =>
        {
            foreach (var token in json["added_tokens"]!.AsArray())
            {
                token!["single_word"] = true;
            }
        });

        Assert.Equal(expected, tokenizer.Encode(text));
    }

    [Theory]
    // Regression (found by HuggingFaceDifferentialTests): the NFC normalizer (Qwen2) was skipped, because .NET's
    // string.Normalize does nothing under the build's invariant globalization. "e" + U+0301 must become "é" (278) and
    // "café" (281, a whole vocabulary entry); the marks below and above are put in canonical order and composed with
    // their base; U+212B ANGSTROM SIGN is a singleton (Å, C3 85); Hangul jamo compose to one syllable (EA B0 81).
    [InlineData("e\u0301", new[] { 294, 278 })]
    [InlineData("cafe\u0301", new[] { 294, 281 })]
    [InlineData("a\u0301\u0323", new[] { 294, 225, 186, 161, 204, 129 })]
    [InlineData("\u212B", new[] { 294, 195, 133 })]
    [InlineData("\u1100\u1161\u11A8", new[] { 294, 234, 176, 129 })]
    // Hugging Face's tables are Unicode 9.0: U+0898 (a mark of Unicode 14.0) is unassigned there, so a starter that
    // blocks composition and reordering across it.
    [InlineData("a\u0898\u0301\u0323", new[] { 294, 97, 224, 162, 152, 204, 163, 204, 129 })]
    // NFC keeps compatibility characters such as the ligature "ﬁ".
    [InlineData("\uFB01", new[] { 294, 239, 172, 129 })]
    public void NFC_normalizer_is_applied_with_Hugging_Face_tables(string text, int[] expected)
    {
        var tokenizer = Variant(s_byteLevel, json => json["normalizer"] = new JsonObject { ["type"] = "NFC" });

        Assert.Equal(expected, tokenizer.Encode(text));
    }

    public void Dispose()
    {
        foreach (var directory in _directories)
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    /// <summary>Copies a tokenizer directory to a scratch one with tokenizer.json edited, and loads it.</summary>
    private TextTokenizer Variant(string source, Action<JsonObject> edit)
    {
        var directory = Path.Combine(Path.GetTempPath(), "actorllm-tokenizer-variant-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(directory);
        _directories.Add(directory);
        foreach (var file in Directory.GetFiles(source, "*.json"))
        {
            File.Copy(file, Path.Combine(directory, Path.GetFileName(file)));
        }

        var json = JsonNode.Parse(File.ReadAllText(Path.Combine(source, "tokenizer.json")))!.AsObject();
        edit(json);
        File.WriteAllText(Path.Combine(directory, "tokenizer.json"), json.ToJsonString());
        return TextTokenizer.Load(directory);
    }
}
