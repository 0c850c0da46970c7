using System.Text;

namespace ActorLlm.Inference.Tokenization;

/// <summary>
/// Decodes generated ids one at a time into text that can be shown as it arrives. Each
/// <see cref="Push"/> returns the text completed by that token: bytes of a character split across
/// byte-fallback or byte-level tokens (an emoji is often 4 tokens of one byte) are held back until
/// the character is complete, so no U+FFFD appears mid-character. The concatenation of everything
/// returned, including <see cref="Flush"/>, equals <see cref="TextTokenizer.Decode"/> of the same ids.
/// </summary>
/// <remarks>Not thread-safe: one decoder per generation stream.</remarks>
public sealed class StreamingDecoder
{
    private readonly TokenDecodingTable _table;
    private readonly bool _skipSpecialTokens;
    private readonly Decoder _utf8 = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: false).GetDecoder();
    private int _spacesLeftToStrip;
    private bool _startPassed;

    internal StreamingDecoder(TokenDecodingTable table, bool skipSpecialTokens)
    {
        _table = table;
        _skipSpecialTokens = skipSpecialTokens;
        _spacesLeftToStrip = table.LeadingSpacesToStrip;
    }

    /// <summary>
    /// Adds one token and returns the text it completes (possibly empty). An id outside the vocabulary
    /// throws <see cref="InvalidRequestException"/> and leaves the decoder as it was.
    /// </summary>
    public string Push(int id)
    {
        var bytes = _table.BytesOf(id);
        if (_skipSpecialTokens && _table.IsSpecial(id))
        {
            return string.Empty;
        }

        ReadOnlySpan<byte> span = bytes;

        // The leading-space strip (SentencePiece's dummy prefix) applies only at the very start of the
        // text, never to the space that begins each later word.
        while (!_startPassed && span.Length > 0)
        {
            if (_spacesLeftToStrip > 0 && span[0] == (byte)' ')
            {
                span = span[1..];
                _spacesLeftToStrip--;
            }
            else
            {
                _startPassed = true;
            }
        }

        return Decode(span, flush: false);
    }

    /// <summary>
    /// Ends the stream: returns what is still held back, an incomplete UTF-8 sequence becoming U+FFFD
    /// (the model ended mid-character).
    /// </summary>
    public string Flush() => Decode([], flush: true);

    private string Decode(ReadOnlySpan<byte> bytes, bool flush)
    {
        // GetCharCount only measures; GetChars consumes, keeping an incomplete sequence inside the decoder.
        var chars = new char[_utf8.GetCharCount(bytes, flush)];
        var written = _utf8.GetChars(bytes, chars, flush);
        return new string(chars, 0, written);
    }
}
