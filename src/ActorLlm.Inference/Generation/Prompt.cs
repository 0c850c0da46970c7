using ActorLlm.Inference.Tokenization;

namespace ActorLlm.Inference.Generation;

/// <summary>Prompts as every entry point (CLI, single process, cluster session) reads them.</summary>
public static class Prompt
{
    /// <summary>Token ids of <paramref name="text"/>; an empty prompt starts from BOS.</summary>
    public static int[] Encode(TextTokenizer tokenizer, string text) => FromBos(tokenizer, tokenizer.Encode(text));

    /// <summary>Token ids of UTF-8 bytes (invalid UTF-8 is an InvalidRequestException); an empty prompt starts from BOS.</summary>
    public static int[] EncodeUtf8(TextTokenizer tokenizer, ReadOnlySpan<byte> utf8) => FromBos(tokenizer, tokenizer.EncodeUtf8(utf8));

    /// <summary>UTF-8 bytes to text, refusing invalid UTF-8 (naming the byte offset) instead of replacing it.</summary>
    public static string DecodeUtf8(ReadOnlySpan<byte> utf8) => InputText.DecodeUtf8(utf8);

    private static int[] FromBos(TextTokenizer tokenizer, int[] ids) => ids.Length == 0 && tokenizer.BosId is int bos ? [bos] : ids;
}
