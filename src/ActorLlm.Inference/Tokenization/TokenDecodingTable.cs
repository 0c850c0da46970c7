using System.Globalization;
using System.Text;
using System.Text.Json;

namespace ActorLlm.Inference.Tokenization;

/// <summary>
/// What each id decodes to, as bytes, plus the cross-token rules Llama-family decoders have: strip
/// leading spaces at the very start of the output (the SentencePiece dummy prefix), and Hugging Face's
/// ByteFallback rule for runs of &lt;0xNN&gt; tokens (see <see cref="IsFallbackByte"/>). Decoding is then
/// "concatenate the bytes, UTF-8 decode" with those rules, which <see cref="StreamingDecoder"/> does and
/// <see cref="TextTokenizer.Decode"/> uses, so the two agree by construction.
/// </summary>
internal sealed class TokenDecodingTable
{
    private readonly byte[]?[] _bytes;
    private readonly bool[] _special;
    private readonly bool[] _fallbackByte;

    public TokenDecodingTable(byte[]?[] bytes, bool[] special, bool[] fallbackByte, int leadingSpacesToStrip)
    {
        _bytes = bytes;
        _special = special;
        _fallbackByte = fallbackByte;
        LeadingSpacesToStrip = leadingSpacesToStrip;
    }

    /// <summary>How many spaces to drop from the start of the decoded text (at most).</summary>
    public int LeadingSpacesToStrip { get; }

    /// <summary>The bytes of <paramref name="id"/>; an id outside the vocabulary is an invalid request.</summary>
    public byte[] BytesOf(int id) =>
        (uint)id < (uint)_bytes.Length && _bytes[id] is { } bytes
            ? bytes
            : throw new InvalidRequestException($"token id {id} is not in the vocabulary (size {_bytes.Length})");

    public bool IsSpecial(int id) => (uint)id < (uint)_special.Length && _special[id];

    /// <summary>
    /// Whether the id is a &lt;0xNN&gt; token under Hugging Face's ByteFallback decoder, which decodes each run
    /// of consecutive such tokens as a whole: as its UTF-8 text when the run's bytes are valid UTF-8, otherwise
    /// as one U+FFFD per byte of the run (so C3 A9 FF is three U+FFFD, not "é" and one U+FFFD).
    /// </summary>
    public bool IsFallbackByte(int id) => (uint)id < (uint)_fallbackByte.Length && _fallbackByte[id];

    /// <summary>Builds the table for ids 0..size-1 from each token's string and the decoder that turns it into bytes.</summary>
    public static TokenDecodingTable Build(
        int size, IEnumerable<(int Id, string Token, bool Special)> tokens, TokenByteDecoder decoder)
    {
        var bytes = new byte[]?[size];
        var special = new bool[size];
        var fallbackByte = new bool[size];
        foreach (var (id, token, isSpecial) in tokens)
        {
            bytes[id] = decoder.ToBytes(token);
            special[id] = isSpecial;
            fallbackByte[id] = decoder.IsFallbackByteRun(token);
        }

        return new TokenDecodingTable(bytes, special, fallbackByte, decoder.LeadingSpacesToStrip);
    }
}

/// <summary>
/// A tokenizer.json <c>decoder</c> reduced to a per-token function plus the leading-space strip.
/// Supports the chains Llama-family tokenizers use: Llama 2's Sequence[Replace "▁"→" ", ByteFallback, Fuse,
/// Strip(" ", 1, 0)], byte-level BPE's ByteLevel, and Metaspace.
/// </summary>
internal sealed class TokenByteDecoder
{
    private readonly List<(string From, string To)> _replacements = [];
    private bool _byteFallback;
    private bool _byteFallbackRuns;
    private bool _byteLevel;
    private bool _fused;

    public int LeadingSpacesToStrip { get; private set; }

    /// <summary>The SentencePiece decoding used for tokenizer.model: "▁" is a space, &lt;0xNN&gt; a byte, one leading space stripped.</summary>
    public static TokenByteDecoder SentencePiece(bool stripDummyPrefix)
    {
        var decoder = new TokenByteDecoder { _byteFallback = true, _fused = true };
        decoder._replacements.Add(("\u2581", " "));
        decoder.LeadingSpacesToStrip = stripDummyPrefix ? 1 : 0;
        return decoder;
    }

    /// <summary>Reads a tokenizer.json <c>decoder</c> value; null decodes each token as its own UTF-8.</summary>
    public static TokenByteDecoder Parse(JsonElement element)
    {
        var decoder = new TokenByteDecoder();
        decoder.Add(element);
        return decoder;
    }

    public byte[] ToBytes(string token)
    {
        token = Replaced(token);
        if (_byteLevel)
        {
            return ByteLevelAlphabet.TryDecode(token) ?? Encoding.UTF8.GetBytes(token);
        }

        if (_byteFallback && IsByteToken(token, out var value))
        {
            return [value];
        }

        return Encoding.UTF8.GetBytes(token);
    }

    /// <summary>
    /// Whether the token is a byte that Hugging Face's ByteFallback decoder joins with its neighbours into one run
    /// (<see cref="TokenDecodingTable.IsFallbackByte"/>). Only tokenizer.json's ByteFallback step does this; the
    /// SentencePiece decoding of tokenizer.model keeps decoding bytes as one UTF-8 stream.
    /// </summary>
    public bool IsFallbackByteRun(string token) => _byteFallbackRuns && !_byteLevel && IsByteToken(Replaced(token), out _);

    private string Replaced(string token)
    {
        foreach (var (from, to) in _replacements)
        {
            token = token.Replace(from, to, StringComparison.Ordinal);
        }

        return token;
    }

    /// <summary>Whether the token is written &lt;0xNN&gt; (Hugging Face's ByteFallback test).</summary>
    private static bool IsByteToken(string token, out byte value)
    {
        value = 0;
        return token.Length == 6 && token.StartsWith("<0x", StringComparison.Ordinal) && token[5] == '>'
            && byte.TryParse(token.AsSpan(3, 2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out value);
    }

    private void Add(JsonElement element)
    {
        foreach (var (type, component) in JsonFields.Components(element, "decoders"))
        {
            switch (type)
            {
                case "Replace":
                    var pattern = JsonFields.Required(component, "pattern");
                    var from = pattern.TryGetProperty("String", out var literal)
                        ? literal.GetString() ?? string.Empty
                        : throw new ModelFormatException("unsupported Replace decoder: only String patterns are supported");
                    _replacements.Add((from, JsonFields.RequiredString(component, "content")));
                    break;
                case "ByteFallback":
                    _byteFallback = true;
                    _byteFallbackRuns = true;
                    break;
                case "Fuse":
                    // Joining the tokens' text is what decoding bytes in order does anyway.
                    _fused = true;
                    break;
                case "ByteLevel":
                    _byteLevel = true;
                    _fused = true;
                    break;
                case "Strip":
                    AddStrip(component);
                    break;
                case "Metaspace":
                    var replacement = JsonFields.OptionalString(component, "replacement") ?? "\u2581";
                    var scheme = JsonFields.OptionalString(component, "prepend_scheme")
                        ?? ((JsonFields.OptionalBool(component, "add_prefix_space") ?? true) ? "always" : "never");
                    _replacements.Add((replacement, " "));
                    _fused = true;
                    LeadingSpacesToStrip = scheme == "never" ? 0 : 1;
                    break;
                default:
                    throw new ModelFormatException($"unsupported decoder type '{type}'");
            }
        }
    }

    private void AddStrip(JsonElement element)
    {
        var content = JsonFields.RequiredString(element, "content");
        var start = JsonFields.Optional(element, "start")?.GetInt32() ?? 0;
        var stop = JsonFields.Optional(element, "stop")?.GetInt32() ?? 0;

        // Only "strip spaces at the start of the whole text" can be done while streaming; a strip of every
        // token (no Fuse before it) or at the end of the text would need to see tokens not generated yet.
        if (content != " " || stop != 0 || !_fused)
        {
            throw new ModelFormatException(
                $"unsupported Strip decoder (content '{content}', start {start}, stop {stop}, after Fuse: {_fused})");
        }

        LeadingSpacesToStrip = start;
    }
}
