using System.Buffers;
using System.Text.Unicode;

namespace ActorLlm.Inference.Tokenization;

/// <summary>
/// Checks that input text is well-formed Unicode before it is tokenized. Ill-formed input is rejected,
/// never repaired: a silently substituted U+FFFD would change the prompt the model sees.
/// </summary>
internal static class InputText
{
    /// <summary>Rejects a string holding a surrogate that is not half of a pair (it has no UTF-8 form).</summary>
    public static void RejectLoneSurrogates(string text)
    {
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
            {
                i++;
            }
            else if (char.IsSurrogate(c))
            {
                throw new InvalidRequestException(
                    $"the text holds a lone surrogate U+{(int)c:X4} at char index {i}; it is not valid Unicode");
            }
        }
    }

    /// <summary>
    /// Decodes strict UTF-8 (no overlong forms, no encoded surrogates, nothing above U+10FFFF, no truncated
    /// sequence), or throws naming the byte offset of the first ill-formed sequence.
    /// </summary>
    public static string DecodeUtf8(ReadOnlySpan<byte> utf8)
    {
        var buffer = ArrayPool<char>.Shared.Rent(Math.Max(utf8.Length, 1));
        try
        {
            var status = Utf8.ToUtf16(utf8, buffer, out var bytesRead, out var charsWritten, replaceInvalidSequences: false);
            if (status != OperationStatus.Done)
            {
                throw new InvalidRequestException(
                    $"the input is not valid UTF-8: ill-formed or truncated sequence at byte offset {bytesRead} (byte 0x{utf8[bytesRead]:X2})");
            }

            return new string(buffer, 0, charsWritten);
        }
        finally
        {
            ArrayPool<char>.Shared.Return(buffer);
        }
    }
}
