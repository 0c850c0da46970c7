using System.Buffers;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Unicode;

namespace ActorLlm.Inference.Tokenization;

/// <summary>
/// Decodes generated ids one at a time into text that can be shown as it arrives. Each
/// <see cref="Push"/> returns the text completed by that token: bytes of a character split across
/// byte-fallback or byte-level tokens (an emoji is often 4 tokens of one byte) are held back until
/// the character is complete, so no U+FFFD appears mid-character. The concatenation of everything
/// returned, including <see cref="Flush"/>, equals <see cref="TextTokenizer.Decode"/> of the same ids.
/// </summary>
/// <remarks>
/// Under Hugging Face's ByteFallback decoder (SentencePiece-style tokenizer.json) a run of consecutive
/// &lt;0xNN&gt; tokens is decoded as a whole, and a byte that makes the run invalid UTF-8 turns the run's earlier,
/// complete characters into U+FFFD too. So the text of such a run is held back until the run ends (the next
/// token that is not a byte, or <see cref="Flush"/>), unless the run is already invalid, in which case each
/// byte's U+FFFD is returned at once. Not thread-safe: one decoder per generation stream.
/// </remarks>
public sealed class StreamingDecoder
{
    private readonly TokenDecodingTable _table;
    private readonly bool _skipSpecialTokens;
    private readonly Decoder _utf8 = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: false).GetDecoder();
    private readonly List<byte> _run = [];
    private bool _runInvalid;
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
            // Skipped tokens are removed before decoding, as in Hugging Face: a byte run goes on across them.
            return string.Empty;
        }

        if (_table.IsFallbackByte(id))
        {
            return StripStart(PushRunByte(bytes[0]));
        }

        return StripStart(EndRun() + Decode(bytes, flush: false));
    }

    /// <summary>
    /// Ends the stream: returns what is still held back, an incomplete UTF-8 sequence becoming U+FFFD
    /// (the model ended mid-character).
    /// </summary>
    public string Flush() => StripStart(EndRun() + Decode([], flush: true));

    /// <summary>
    /// Pushes ids whose text the caller already has (a prompt, before generation) and discards their text: the
    /// next <see cref="Push"/> returns only what the new ids add, and the leading-space strip is used up as it
    /// would be. A byte run the ids end with is closed here, so its text is not returned with the first new token.
    /// </summary>
    public void Prime(IEnumerable<int> ids)
    {
        ArgumentNullException.ThrowIfNull(ids);
        foreach (var id in ids)
        {
            Push(id);
        }

        StripStart(EndRun());
    }

    private string PushRunByte(byte value)
    {
        _run.Add(value);
        if (_runInvalid)
        {
            return "\uFFFD";
        }

        if (IsValidUtf8(_run, complete: false))
        {
            return string.Empty;
        }

        _runInvalid = true;
        return new string('\uFFFD', _run.Count);
    }

    /// <summary>The text of the byte run that just ended (its U+FFFD were already returned if it was invalid).</summary>
    private string EndRun()
    {
        if (_run.Count == 0)
        {
            return string.Empty;
        }

        var text = _runInvalid ? string.Empty
            : IsValidUtf8(_run, complete: true) ? Encoding.UTF8.GetString([.. _run])
            : new string('\uFFFD', _run.Count); // a truncated last character
        _run.Clear();
        _runInvalid = false;
        return text;
    }

    /// <summary>Whether the bytes are valid UTF-8 or, when not <paramref name="complete"/>, the start of valid UTF-8.</summary>
    private static bool IsValidUtf8(List<byte> bytes, bool complete)
    {
        var chars = ArrayPool<char>.Shared.Rent(bytes.Count + 1);
        try
        {
            var status = Utf8.ToUtf16(
                CollectionsMarshal.AsSpan(bytes), chars, out _, out _,
                replaceInvalidSequences: false, isFinalBlock: complete);
            return status == OperationStatus.Done || (!complete && status == OperationStatus.NeedMoreData);
        }
        finally
        {
            ArrayPool<char>.Shared.Return(chars);
        }
    }

    /// <summary>
    /// The leading-space strip (SentencePiece's dummy prefix) applies only at the very start of the text, never
    /// to the space that begins each later word.
    /// </summary>
    private string StripStart(string text)
    {
        if (_startPassed || text.Length == 0)
        {
            return text;
        }

        var start = 0;
        while (start < text.Length && _spacesLeftToStrip > 0 && text[start] == ' ')
        {
            start++;
            _spacesLeftToStrip--;
        }

        _startPassed = start < text.Length || _spacesLeftToStrip == 0;
        return text[start..];
    }

    private string Decode(ReadOnlySpan<byte> bytes, bool flush)
    {
        // GetCharCount only measures; GetChars consumes, keeping an incomplete sequence inside the decoder.
        var chars = new char[_utf8.GetCharCount(bytes, flush)];
        var written = _utf8.GetChars(bytes, chars, flush);
        return new string(chars, 0, written);
    }
}
