using System.Text.Json;

namespace ActorLlm.Inference.Tokenization;

/// <summary>
/// What the Hugging Face side files of a model directory say about special tokens:
/// tokenizer_config.json (bos/eos token, add_bos_token, add_eos_token, added_tokens_decoder),
/// special_tokens_map.json (bos/eos token), generation_config.json and config.json
/// (bos_token_id, eos_token_id as an int or a list). Every file is optional.
/// </summary>
internal sealed record TokenizerConfigFiles(
    IReadOnlyList<string> BosTokens,
    IReadOnlyList<string> EosTokens,
    bool? AddBosToken,
    bool? AddEosToken,
    IReadOnlyList<int> BosIds,
    IReadOnlyList<int> EosIds,
    IReadOnlyList<AddedToken> AddedTokensDecoder)
{
    public const string TokenizerConfigFile = "tokenizer_config.json";
    public const string SpecialTokensMapFile = "special_tokens_map.json";
    public const string GenerationConfigFile = "generation_config.json";
    public const string ModelConfigFile = "config.json";

    public static TokenizerConfigFiles Read(string directory)
    {
        var bosTokens = new List<string>();
        var eosTokens = new List<string>();
        var bosIds = new List<int>();
        var eosIds = new List<int>();
        bool? addBos = null, addEos = null;
        var addedTokens = new List<AddedToken>();

        // tokenizer_config.json first: its bos/eos token is the tokenizer's own, the one BOS resolves to.
        foreach (var file in new[] { TokenizerConfigFile, SpecialTokensMapFile })
        {
            ReadIfPresent(directory, file, root =>
            {
                AddIfPresent(bosTokens, JsonFields.TokenContent(root, "bos_token"));
                AddIfPresent(eosTokens, JsonFields.TokenContent(root, "eos_token"));
                if (file == TokenizerConfigFile)
                {
                    addBos = JsonFields.OptionalBool(root, "add_bos_token");
                    addEos = JsonFields.OptionalBool(root, "add_eos_token");
                    addedTokens.AddRange(ReadAddedTokensDecoder(root));
                }
            });
        }

        // generation_config.json first: it is what generate() stops on (Llama 3 instruct lists several ids).
        foreach (var file in new[] { GenerationConfigFile, ModelConfigFile })
        {
            ReadIfPresent(directory, file, root =>
            {
                bosIds.AddRange(JsonFields.IntOrIntList(root, "bos_token_id"));
                eosIds.AddRange(JsonFields.IntOrIntList(root, "eos_token_id"));
            });
        }

        return new TokenizerConfigFiles(bosTokens, eosTokens, addBos, addEos, bosIds, eosIds, addedTokens);
    }

    /// <summary>
    /// Parses a JSON file of the model directory (tokenizer.json too), wrapping any problem with its content
    /// (bad JSON, wrong value types, negative or out-of-range ids) in a <see cref="ModelFormatException"/> naming it.
    /// </summary>
    public static void ReadIfPresent(string directory, string fileName, Action<JsonElement> read)
    {
        var path = Path.Combine(directory, fileName);
        if (!File.Exists(path))
        {
            return;
        }

        try
        {
            using var document = JsonDocument.Parse(File.ReadAllBytes(path), new JsonDocumentOptions { AllowTrailingCommas = true });
            read(document.RootElement);
        }
        catch (Exception e) when (e is JsonException or IOException or UnauthorizedAccessException or ModelFormatException
                                      or InvalidOperationException or FormatException or IndexOutOfRangeException
                                      or ArgumentException)
        {
            throw new ModelFormatException($"cannot read {path}: {e.Message}", e);
        }
    }

    private static IEnumerable<AddedToken> ReadAddedTokensDecoder(JsonElement root)
    {
        if (JsonFields.Optional(root, "added_tokens_decoder") is not { ValueKind: JsonValueKind.Object } decoder)
        {
            yield break;
        }

        foreach (var entry in decoder.EnumerateObject())
        {
            if (!int.TryParse(entry.Name, out var id))
            {
                throw new ModelFormatException($"added_tokens_decoder key '{entry.Name}' is not a token id");
            }

            yield return ReadAddedToken(entry.Value, id);
        }
    }

    /// <summary>Reads one AddedToken object (tokenizer.json <c>added_tokens</c> or tokenizer_config <c>added_tokens_decoder</c>).</summary>
    public static AddedToken ReadAddedToken(JsonElement token, int id) => new(
        JsonFields.RequiredString(token, "content"),
        id,
        JsonFields.OptionalBool(token, "special") ?? false,
        JsonFields.OptionalBool(token, "lstrip") ?? false,
        JsonFields.OptionalBool(token, "rstrip") ?? false,
        JsonFields.OptionalBool(token, "single_word") ?? false);

    private static void AddIfPresent(List<string> list, string? value)
    {
        if (!string.IsNullOrEmpty(value))
        {
            list.Add(value);
        }
    }
}
