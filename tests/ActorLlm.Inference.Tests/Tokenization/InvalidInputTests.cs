using ActorLlm.Inference.Tokenization;
using Xunit;

namespace ActorLlm.Inference.Tests.Tokenization;

/// <summary>Ill-formed input is rejected with <see cref="InvalidRequestException"/>, never repaired.</summary>
public class InvalidInputTests
{
    private static readonly Lazy<TextTokenizer> s_sentencePieceStyle =
        new(() => TextTokenizer.Load(Path.Combine(RepoPaths.ModelsDir, "stories260K")));

    private static readonly Lazy<TextTokenizer> s_byteLevel =
        new(() => TextTokenizer.Load(Path.Combine(RepoPaths.FixturesDir, "tokenizers", "llama3-style-byte-level")));

    public static TheoryData<byte[], int> InvalidUtf8 => new()
    {
        { new byte[] { 0xC3, 0x28 }, 0 },                   // lead byte followed by a non-continuation byte
        { new byte[] { 0x61, 0xFF }, 1 },                   // 0xFF never appears in UTF-8
        { new byte[] { 0x61, 0x62, 0xF0, 0x9F, 0x99 }, 2 }, // 4-byte sequence cut after 3 bytes
        { new byte[] { 0xC0, 0xAF }, 0 },                   // overlong '/'
        { new byte[] { 0x41, 0xE0, 0x80, 0xAF }, 1 },       // overlong '/' in 3 bytes
        { new byte[] { 0xED, 0xA0, 0x80 }, 0 },             // UTF-16 surrogate D800 encoded in UTF-8
        { new byte[] { 0xF4, 0x90, 0x80, 0x80 }, 0 },       // above U+10FFFF
        { new byte[] { 0x80 }, 0 },                         // stray continuation byte
    };

    [Theory]
    [MemberData(nameof(InvalidUtf8))]
    public void EncodeUtf8_rejects_ill_formed_UTF8_naming_the_offset(byte[] input, int offset)
    {
        foreach (var tokenizer in new[] { s_sentencePieceStyle.Value, s_byteLevel.Value })
        {
            var error = Assert.Throws<InvalidRequestException>(() => tokenizer.EncodeUtf8(input));
            Assert.Contains($"byte offset {offset}", error.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Encode_rejects_lone_surrogates()
    {
        // Built in code: attribute arguments are stored as UTF-8, which would turn a lone surrogate into U+FFFD.
        string[] texts =
        [
            "a" + '\uD83D',               // high surrogate at the end
            '\uDE42' + "b",               // low surrogate first
            "x" + '\uDE42' + '\uD83D' + "y", // a pair in the wrong order
        ];

        foreach (var text in texts)
        {
            Assert.Throws<InvalidRequestException>(() => s_sentencePieceStyle.Value.Encode(text));
            Assert.Throws<InvalidRequestException>(() => s_byteLevel.Value.Encode(text));
        }
    }

    [Fact]
    public void Valid_UTF8_with_every_sequence_length_is_accepted()
    {
        var text = "a é 你 🙂";
        Assert.Equal(s_byteLevel.Value.Encode(text), s_byteLevel.Value.EncodeUtf8(System.Text.Encoding.UTF8.GetBytes(text)));
    }

    [Theory]
    [InlineData(-1)]
    [InlineData(512)]
    [InlineData(int.MaxValue)]
    public void Ids_outside_the_vocabulary_are_rejected(int id)
    {
        var tokenizer = s_sentencePieceStyle.Value;
        Assert.Throws<InvalidRequestException>(() => tokenizer.Decode([1, id]));

        var ids = tokenizer.Encode("Once upon", addSpecialTokens: false);
        var decoder = tokenizer.CreateStreamingDecoder();
        var text = decoder.Push(ids[0]);
        Assert.Throws<InvalidRequestException>(() => decoder.Push(id));

        // The rejected id left the decoder as it was.
        text += string.Concat(ids.Skip(1).Select(decoder.Push)) + decoder.Flush();
        Assert.Equal("Once upon", text);
    }
}
