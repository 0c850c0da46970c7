using ActorLlm.Inference.Tokenization;
using Xunit;

namespace ActorLlm.Inference.Tests.Tokenization;

/// <summary>Texts and checks every supported tokenizer format must pass.</summary>
public static class TokenizerAssertions
{
    /// <summary>Inputs that must survive Encode then Decode unchanged.</summary>
    public static IReadOnlyList<string> Texts { get; } =
    [
        "Once upon a time, there was a dog",
        "line one\nline two\n\nafter a blank line\r\nwindows line",
        "Héllo wörld, café naïve façade",
        "emoji 🙂 thumbs 👍🏽 robot🤖 flag 🇫🇷",
        "日本語のテキスト 你好世界",
        "Привет мир",
        "  two leading spaces",
        "trailing spaces  ",
        "multiple   spaces   inside",
        " ",
        "\ttab and \"quotes\" and 'apostrophes'",
        "math letters 𝐀𝐁𝐂 and 🙂abc",
        "digits 1234567890",
        string.Empty,
    ];

    public static TheoryData<string> RoundTripTexts => new(Texts);

    public static void RoundTrips(TextTokenizer tokenizer, string text)
    {
        var ids = tokenizer.Encode(text);
        Assert.Equal(text, tokenizer.Decode(ids));
        Assert.Equal(text, tokenizer.Decode(tokenizer.Encode(text, addSpecialTokens: false)));
    }

    /// <summary>
    /// Pushing ids one by one yields Decode's text, and no chunk holds U+FFFD: characters split across
    /// tokens are held back until complete.
    /// </summary>
    public static void StreamsLikeDecode(TextTokenizer tokenizer, string text)
    {
        var ids = tokenizer.Encode(text);
        var decoder = tokenizer.CreateStreamingDecoder();
        // Pushed first, flushed after: Append(decoder.Flush()) would run Flush before the lazy Select pushes anything.
        var chunks = ids.Select(decoder.Push).ToList();
        chunks.Add(decoder.Flush());

        Assert.Equal(tokenizer.Decode(ids), string.Concat(chunks));
        Assert.All(chunks, chunk => Assert.DoesNotContain('\uFFFD', chunk));
    }
}
