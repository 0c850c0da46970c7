using System.Text.Json;

namespace ActorLlm.Inference.Generation;

/// <summary>What a job asked for of its sampling and length: null where it did not say.</summary>
public sealed record SamplingRequest(int? MaxTokens = null, float? Temperature = null, float? TopP = null, int? TopK = null, float? RepetitionPenalty = null);

/// <summary>Sampling and length with every value settled.</summary>
public sealed record SettledSampling(int MaxTokens, float Temperature, float TopP, int TopK, float RepetitionPenalty);

/// <summary>
/// A model's <c>generation_config.json</c>: the defaults its authors ship for <c>generate()</c>. Each value is null when
/// the file does not give it (or gives null). <see cref="Fill"/> applies them to what a request left out.
/// </summary>
public sealed record GenerationDefaults(
    float? Temperature = null,
    float? TopP = null,
    int? TopK = null,
    float? RepetitionPenalty = null,
    bool? DoSample = null,
    IReadOnlyList<int>? EosTokenIds = null,
    int? MaxNewTokens = null)
{
    public const string FileName = "generation_config.json";

    /// <summary>No file: every value is the surface's own default.</summary>
    public static GenerationDefaults None { get; } = new();

    /// <summary>The defaults of the model directory <paramref name="modelDir"/>: its generation_config.json, or <see cref="None"/>.</summary>
    public static GenerationDefaults Load(string modelDir)
    {
        string path = Path.Combine(modelDir, FileName);
        return File.Exists(path) ? Parse(File.ReadAllBytes(path), path) : None;
    }

    /// <summary>
    /// Reads the keys this pool applies (temperature, top_p, top_k, repetition_penalty, do_sample, eos_token_id,
    /// max_new_tokens; the rest are ignored). A value of the wrong type or out of range is a
    /// <see cref="ModelFormatException"/> naming <paramref name="source"/> and the key.
    /// </summary>
    public static GenerationDefaults Parse(ReadOnlySpan<byte> json, string source)
    {
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(json.ToArray(), new JsonDocumentOptions { AllowTrailingCommas = true });
        }
        catch (JsonException e)
        {
            throw new ModelFormatException($"{source}: not valid JSON: {e.Message}", e);
        }

        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                throw new ModelFormatException($"{source}: must be a JSON object");
            }

            return new GenerationDefaults(
                Number(root, source, "temperature", v => v >= 0, ">= 0"),
                Number(root, source, "top_p", v => v is > 0 and <= 1, "in (0, 1]"),
                Integer(root, source, "top_k", v => v >= 0, ">= 0"),
                Number(root, source, "repetition_penalty", v => v > 0, "> 0"),
                Bool(root, source, "do_sample"),
                EosIds(root, source),
                Integer(root, source, "max_new_tokens", v => v >= 1, ">= 1"));
        }
    }

    /// <summary>
    /// What a job runs with: each value the request gave; else this file's; else <paramref name="fallback"/>'s (the
    /// surface's own: the CLI's, or the API's). <c>do_sample: false</c> makes the default greedy (temperature 0, whatever
    /// the file's temperature); <c>do_sample: true</c> samples at the file's temperature, or 1 (transformers' default)
    /// when it gives none. A request's own temperature always wins, and then the file's top_p and top_k apply to it.
    /// End-of-sequence ids are not settled here: the tokenizer already stops on generation_config.json's.
    /// </summary>
    public SettledSampling Fill(SamplingRequest request, SettledSampling fallback)
    {
        float temperature = request.Temperature
            ?? (DoSample switch
            {
                false => 0f,
                true => Temperature ?? 1f,
                null => Temperature ?? fallback.Temperature,
            });
        return new SettledSampling(
            request.MaxTokens ?? MaxNewTokens ?? fallback.MaxTokens,
            temperature,
            request.TopP ?? TopP ?? fallback.TopP,
            request.TopK ?? TopK ?? fallback.TopK,
            request.RepetitionPenalty ?? RepetitionPenalty ?? fallback.RepetitionPenalty);
    }

    private static JsonElement? Value(JsonElement root, string key) =>
        root.TryGetProperty(key, out var v) && v.ValueKind != JsonValueKind.Null ? v : null;

    private static float? Number(JsonElement root, string source, string key, Func<double, bool> valid, string range)
    {
        if (Value(root, key) is not { } v)
        {
            return null;
        }

        return v.ValueKind == JsonValueKind.Number && v.TryGetDouble(out double d) && double.IsFinite(d) && valid(d)
            ? (float)d
            : throw new ModelFormatException($"{source}: '{key}' must be a number {range}, got {v.GetRawText()}");
    }

    private static int? Integer(JsonElement root, string source, string key, Func<int, bool> valid, string range)
    {
        if (Value(root, key) is not { } v)
        {
            return null;
        }

        return v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out int i) && valid(i)
            ? i
            : throw new ModelFormatException($"{source}: '{key}' must be an integer {range}, got {v.GetRawText()}");
    }

    private static bool? Bool(JsonElement root, string source, string key)
    {
        if (Value(root, key) is not { } v)
        {
            return null;
        }

        return v.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw new ModelFormatException($"{source}: '{key}' must be true or false, got {v.GetRawText()}"),
        };
    }

    private static int[] EosIds(JsonElement root, string source)
    {
        if (Value(root, "eos_token_id") is not { } v)
        {
            return [];
        }

        bool IsId(JsonElement e) => e.ValueKind == JsonValueKind.Number && e.TryGetInt32(out int i) && i >= 0;
        return v.ValueKind switch
        {
            JsonValueKind.Number when IsId(v) => [v.GetInt32()],
            JsonValueKind.Array when v.EnumerateArray().All(IsId) => [.. v.EnumerateArray().Select(e => e.GetInt32())],
            _ => throw new ModelFormatException($"{source}: 'eos_token_id' must be a token id (an integer >= 0) or a list of them, got {v.GetRawText()}"),
        };
    }
}
