using ActorLlm.Inference.Tokenization;

namespace ActorLlm.Inference.Generation;

/// <summary>Prompts as every entry point (CLI, single process, cluster session, choice scoring) reads them.</summary>
/// <remarks>
/// A prompt is user text: special tokens written in it (<c>&lt;/s&gt;</c>, <c>&lt;|eot_id|&gt;</c>) are encoded as the
/// characters they are made of, never as the control token, so a user cannot end the sequence or a turn by typing
/// one. Only the tokenizer's own template (BOS from the post-processor) and, later, chat templates put control tokens
/// in the sequence. Non-special added tokens (e.g. <c>&lt;tool_call&gt;</c>) are ordinary vocabulary and still match.
/// </remarks>
public static class Prompt
{
    /// <summary>Token ids of <paramref name="text"/>, its special-token look-alikes as plain text; an empty prompt starts from BOS.</summary>
    public static int[] Encode(TextTokenizer tokenizer, string text) =>
        FromBos(tokenizer, tokenizer.Encode(text, addSpecialTokens: true, parseSpecialTokens: false));

    /// <summary>
    /// Token ids of UTF-8 bytes (invalid UTF-8 is an InvalidRequestException), special-token look-alikes as plain text;
    /// an empty prompt starts from BOS.
    /// </summary>
    public static int[] EncodeUtf8(TextTokenizer tokenizer, ReadOnlySpan<byte> utf8) =>
        FromBos(tokenizer, tokenizer.EncodeUtf8(utf8, addSpecialTokens: true, parseSpecialTokens: false));

    /// <summary>
    /// Token ids of a rendered chat template (UTF-8; invalid UTF-8 is an InvalidRequestException): its control tokens
    /// are meant, so they are encoded as such, and nothing is added (the template writes BOS where the model wants it).
    /// Message contents are inside the render: like every server that renders Hugging Face templates, a control token
    /// typed in a message is encoded as one.
    /// </summary>
    public static int[] EncodeRenderedUtf8(TextTokenizer tokenizer, ReadOnlySpan<byte> utf8) =>
        FromBos(tokenizer, tokenizer.EncodeUtf8(utf8, addSpecialTokens: false, parseSpecialTokens: true));

    /// <summary><see cref="EncodeRenderedUtf8"/> when <paramref name="rendered"/>, else <see cref="EncodeUtf8(TextTokenizer, ReadOnlySpan{byte})"/>.</summary>
    public static int[] EncodeUtf8(TextTokenizer tokenizer, ReadOnlySpan<byte> utf8, bool rendered) =>
        rendered ? EncodeRenderedUtf8(tokenizer, utf8) : EncodeUtf8(tokenizer, utf8);

    /// <summary>UTF-8 bytes to text, refusing invalid UTF-8 (naming the byte offset) instead of replacing it.</summary>
    public static string DecodeUtf8(ReadOnlySpan<byte> utf8) => InputText.DecodeUtf8(utf8);

    private static int[] FromBos(TextTokenizer tokenizer, int[] ids) => ids.Length == 0 && tokenizer.BosId is int bos ? [bos] : ids;
}
