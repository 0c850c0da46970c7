using Microsoft.ML.Tokenizers;

namespace ActorLlm.Inference.Tokenization;

/// <summary>
/// A SentencePiece tokenizer.model (protobuf), for model directories without a tokenizer.json (original
/// Llama 2 releases). Encoding is Microsoft.ML.Tokenizers' SentencePieceTokenizer, which reproduced the
/// ids of Google's sentencepiece on a byte-fallback BPE model in our tests; decoding is ours (the
/// SentencePiece rules: "▁" is a space, &lt;0xNN&gt; is a byte, the dummy-prefix space is stripped) so that
/// it streams like the tokenizer.json formats.
/// </summary>
internal sealed class SentencePieceModelCore : TokenizerCore
{
    public const string FileName = "tokenizer.model";

    private readonly SentencePieceTokenizer _tokenizer;
    private readonly Dictionary<string, int> _addedByContent;

    private SentencePieceModelCore(SentencePieceTokenizer tokenizer, List<AddedToken> addedTokens)
    {
        _tokenizer = tokenizer;
        AddedTokens = addedTokens;
        _addedByContent = addedTokens.GroupBy(t => t.Content).ToDictionary(g => g.Key, g => g.First().Id);
        var vocabulary = tokenizer.Vocabulary;
        VocabSize = Math.Max(
            vocabulary.Count == 0 ? 0 : vocabulary.Values.Max() + 1,
            addedTokens.Count == 0 ? 0 : addedTokens.Max(t => t.Id) + 1);
        Decoding = TokenDecodingTable.Build(
            VocabSize,
            vocabulary.Select(kv => (kv.Value, kv.Key, false)).Concat(addedTokens.Select(t => (t.Id, t.Content, t.Special))),
            TokenByteDecoder.SentencePiece(stripDummyPrefix: tokenizer.AddDummyPrefix));

        // Hugging Face's LlamaTokenizer adds BOS by default (add_bos_token = true) and no EOS.
        DefaultPrefix = [tokenizer.BeginningOfSentenceId];
    }

    public override IReadOnlyList<AddedToken> AddedTokens { get; }

    public override IReadOnlyList<int> DefaultPrefix { get; }

    public override IReadOnlyList<int> DefaultSuffix { get; } = [];

    public override int VocabSize { get; }

    public override TokenDecodingTable Decoding { get; }

    public override int? IdOf(string token) =>
        _addedByContent.TryGetValue(token, out var added) ? added
        : _tokenizer.Vocabulary.TryGetValue(token, out var id) ? id
        : null;

    public override void EncodeText(string text, bool atTextStart, List<int> ids) =>
        ids.AddRange(_tokenizer.EncodeToIds(text, addBeginningOfSentence: false, addEndOfSentence: false));

    /// <param name="directory">The model directory holding tokenizer.model.</param>
    /// <param name="configuredAddedTokens">tokenizer_config.json's added_tokens_decoder, matched in the input besides BOS/EOS/UNK.</param>
    public static SentencePieceModelCore Load(string directory, IReadOnlyList<AddedToken> configuredAddedTokens)
    {
        var path = Path.Combine(directory, FileName);
        SentencePieceTokenizer tokenizer;
        try
        {
            using var stream = File.OpenRead(path);
            tokenizer = SentencePieceTokenizer.Create(stream, addBeginningOfSentence: false, addEndOfSentence: false);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            throw new ModelFormatException($"cannot read {path} as a SentencePiece model: {e.Message}", e);
        }

        if (tokenizer.TreatWhitespaceAsSuffix)
        {
            throw new ModelFormatException($"{path}: unsupported SentencePiece model with treat_whitespace_as_suffix");
        }

        // BOS, EOS and UNK are special like in Hugging Face's LlamaTokenizer: matched whole in the input,
        // skipped when decoding with skipSpecialTokens.
        var added = new List<AddedToken>
        {
            new(tokenizer.BeginningOfSentenceToken, tokenizer.BeginningOfSentenceId, Special: true),
            new(tokenizer.EndOfSentenceToken, tokenizer.EndOfSentenceId, Special: true),
            new(tokenizer.UnknownToken, tokenizer.UnknownId, Special: true),
        };
        added.AddRange(configuredAddedTokens.Where(t => added.All(a => a.Id != t.Id)));
        return new SentencePieceModelCore(tokenizer, added);
    }
}
