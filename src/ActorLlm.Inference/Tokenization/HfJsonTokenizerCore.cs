using System.Text.Json;

namespace ActorLlm.Inference.Tokenization;

/// <summary>
/// A Hugging Face tokenizer.json with a BPE model, in either style Llama-family models use:
/// SentencePiece-like with byte fallback (Llama 2, Mistral, TinyLlama, the bundled stories260K: normalizer
/// Prepend "▁" + Replace " "→"▁", &lt;0xNN&gt; tokens) or GPT-2 byte-level (Llama 3, Qwen2: Split regex +
/// ByteLevel). The pipeline is Hugging Face's: normalizer → pre_tokenizer → BPE per word.
/// </summary>
internal sealed class HfJsonTokenizerCore : TokenizerCore
{
    public const string FileName = "tokenizer.json";

    private readonly TextNormalizer _normalizer;
    private readonly PreTokenizerPipeline _preTokenizer;
    private readonly BpeModel _model;
    private readonly Dictionary<string, int> _addedByContent;

    private HfJsonTokenizerCore(
        TextNormalizer normalizer,
        PreTokenizerPipeline preTokenizer,
        BpeModel model,
        List<AddedToken> addedTokens,
        PostProcessorTemplate template,
        int vocabSize,
        TokenDecodingTable decoding)
    {
        _normalizer = normalizer;
        _preTokenizer = preTokenizer;
        _model = model;
        AddedTokens = addedTokens;
        _addedByContent = addedTokens.GroupBy(t => t.Content).ToDictionary(g => g.Key, g => g.First().Id);
        DefaultPrefix = template.Prefix;
        DefaultSuffix = template.Suffix;
        VocabSize = vocabSize;
        Decoding = decoding;
    }

    public override IReadOnlyList<AddedToken> AddedTokens { get; }

    public override IReadOnlyList<int> DefaultPrefix { get; }

    public override IReadOnlyList<int> DefaultSuffix { get; }

    public override int VocabSize { get; }

    public override TokenDecodingTable Decoding { get; }

    public override int? IdOf(string token) =>
        _addedByContent.TryGetValue(token, out var added) ? added
        : _model.TryGetId(token, out var id) ? id
        : null;

    public override void EncodeText(string text, bool atTextStart, List<int> ids)
    {
        var normalized = _normalizer.Normalize(text);
        foreach (var word in _preTokenizer.Split(normalized, atTextStart))
        {
            _model.EncodeWord(word, ids);
        }
    }

    /// <summary>Reads tokenizer.json; any problem is a <see cref="ModelFormatException"/> naming the file.</summary>
    public static HfJsonTokenizerCore Load(string directory)
    {
        HfJsonTokenizerCore? core = null;
        TokenizerConfigFiles.ReadIfPresent(directory, FileName, root => core = Parse(root));
        return core ?? throw new ModelFormatException($"{Path.Combine(directory, FileName)} does not exist");
    }

    private static HfJsonTokenizerCore Parse(JsonElement root)
    {
        var model = JsonFields.Required(root, "model");
        var type = JsonFields.OptionalString(model, "type") ?? (model.TryGetProperty("merges", out _) ? "BPE" : "unknown");
        if (type != "BPE")
        {
            throw new ModelFormatException($"unsupported tokenizer model type '{type}' (supported: BPE)");
        }

        if (JsonFields.OptionalString(model, "continuing_subword_prefix") is { Length: > 0 }
            || JsonFields.OptionalString(model, "end_of_word_suffix") is { Length: > 0 })
        {
            throw new ModelFormatException("unsupported BPE model with continuing_subword_prefix or end_of_word_suffix");
        }

        var vocab = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var entry in JsonFields.Required(model, "vocab").EnumerateObject())
        {
            vocab[entry.Name] = entry.Value.GetInt32();
        }

        var bpe = new BpeModel(
            vocab,
            ReadMerges(JsonFields.Required(model, "merges")),
            JsonFields.OptionalString(model, "unk_token"),
            JsonFields.OptionalBool(model, "fuse_unk") ?? false,
            JsonFields.OptionalBool(model, "byte_fallback") ?? false,
            JsonFields.OptionalBool(model, "ignore_merges") ?? false);

        var addedTokens = new List<AddedToken>();
        if (JsonFields.Optional(root, "added_tokens") is { } added)
        {
            foreach (var token in added.EnumerateArray())
            {
                addedTokens.Add(TokenizerConfigFiles.ReadAddedToken(token, JsonFields.Required(token, "id").GetInt32()));
            }
        }

        var vocabSize = Math.Max(
            vocab.Count == 0 ? 0 : vocab.Values.Max() + 1,
            addedTokens.Count == 0 ? 0 : addedTokens.Max(t => t.Id) + 1);
        var decoding = TokenDecodingTable.Build(
            vocabSize,
            vocab.Select(kv => (kv.Value, kv.Key, false))
                .Concat(addedTokens.Select(t => (t.Id, t.Content, t.Special))),
            TokenByteDecoder.Parse(JsonFields.Optional(root, "decoder") ?? default));

        return new HfJsonTokenizerCore(
            TextNormalizer.Parse(JsonFields.Optional(root, "normalizer") ?? default),
            PreTokenizerPipeline.Parse(JsonFields.Optional(root, "pre_tokenizer") ?? default),
            bpe,
            addedTokens,
            PostProcessorTemplate.Parse(JsonFields.Optional(root, "post_processor") ?? default),
            vocabSize,
            decoding);
    }

    /// <summary>Merges are written "left right" (older files) or ["left", "right"] (tokenizers 0.20+).</summary>
    private static List<(string Left, string Right)> ReadMerges(JsonElement merges)
    {
        var result = new List<(string, string)>();
        foreach (var merge in merges.EnumerateArray())
        {
            if (merge.ValueKind == JsonValueKind.Array && merge.GetArrayLength() == 2)
            {
                result.Add((merge[0].GetString() ?? string.Empty, merge[1].GetString() ?? string.Empty));
                continue;
            }

            var text = merge.ValueKind == JsonValueKind.String ? merge.GetString() ?? string.Empty : string.Empty;
            var space = text.IndexOf(' ', StringComparison.Ordinal);
            if (space <= 0 || space == text.Length - 1 || text.IndexOf(' ', space + 1) >= 0)
            {
                throw new ModelFormatException($"malformed merge '{merge.GetRawText()}'");
            }

            result.Add((text[..space], text[(space + 1)..]));
        }

        return result;
    }
}
