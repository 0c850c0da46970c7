using System.Text.Json;
using System.Text.Json.Nodes;

namespace ActorLlm.Inference.Config;

/// <summary>
/// The architecture of a Llama-family model, read from a Hugging Face <c>config.json</c>.
/// Llama (2, 3, 3.x), Mistral and Qwen2 share this shape; they differ in biases, RoPE scaling,
/// tied embeddings and sliding windows, all of which are explicit here.
/// </summary>
public sealed record ModelConfig
{
    public required string ModelType { get; init; }
    public required int HiddenSize { get; init; }
    public required int IntermediateSize { get; init; }
    public required int NumLayers { get; init; }
    public required int NumHeads { get; init; }
    public required int NumKvHeads { get; init; }
    public required int HeadDim { get; init; }
    public required int VocabSize { get; init; }
    public required int MaxPositionEmbeddings { get; init; }
    public required double RmsNormEps { get; init; }
    public required RopeConfig Rope { get; init; }
    public required bool TieWordEmbeddings { get; init; }

    /// <summary>Biases on the q, k and v projections (Qwen2 always; Llama when <c>attention_bias</c>).</summary>
    public required bool QkvBias { get; init; }

    /// <summary>Bias on the output projection (Llama <c>attention_bias</c>; not Qwen2).</summary>
    public required bool OutputBias { get; init; }

    public required bool MlpBias { get; init; }

    /// <summary>Keys further back than this many positions are not attended to (Mistral); null for none.</summary>
    public int? SlidingWindow { get; init; }

    /// <summary>The original JSON, kept so a unit store can carry the config verbatim.</summary>
    public required JsonObject Raw { get; init; }

    /// <summary>Number of units: begin, the layers, end.</summary>
    public int UnitCount => NumLayers + 2;

    private static readonly string[] s_supported = ["llama", "mistral", "qwen2"];

    public static ModelConfig Load(string modelDirectory)
    {
        string path = Path.Combine(modelDirectory, "config.json");
        if (!Directory.Exists(modelDirectory))
        {
            throw new ModelFormatException($"model directory '{modelDirectory}' does not exist");
        }

        if (!File.Exists(path))
        {
            throw new ModelFormatException($"'{modelDirectory}' has no config.json: not a Hugging Face model directory or unit store");
        }

        JsonNode? node;
        try
        {
            node = JsonNode.Parse(File.ReadAllText(path));
        }
        catch (JsonException e)
        {
            throw new ModelFormatException($"{path}: invalid JSON: {e.Message}", e);
        }

        if (node is not JsonObject obj)
        {
            throw new ModelFormatException($"{path}: expected a JSON object");
        }

        try
        {
            return Parse(obj);
        }
        catch (ModelFormatException e)
        {
            throw new ModelFormatException($"{path}: {e.Message}", e);
        }
    }

    /// <summary>Parses a config.json object. Throws <see cref="ModelFormatException"/> for unsupported or inconsistent configs.</summary>
    public static ModelConfig Parse(JsonObject c)
    {
        string modelType = Str(c, "model_type") ?? throw new ModelFormatException("config has no model_type");
        if (!s_supported.Contains(modelType))
        {
            throw new ModelFormatException(
                $"unsupported model_type '{modelType}': this build runs the Llama family ({string.Join(", ", s_supported)})");
        }

        string act = Str(c, "hidden_act") ?? "silu";
        if (act != "silu")
        {
            throw new ModelFormatException($"unsupported hidden_act '{act}': the Llama family uses silu");
        }

        int hidden = Int(c, "hidden_size") ?? throw Missing("hidden_size");
        int heads = Int(c, "num_attention_heads") ?? throw Missing("num_attention_heads");
        int kvHeads = Int(c, "num_key_value_heads") ?? heads;
        int layers = Int(c, "num_hidden_layers") ?? throw Missing("num_hidden_layers");
        int headDim = Int(c, "head_dim") ?? (hidden / Math.Max(heads, 1));
        int vocab = Int(c, "vocab_size") ?? throw Missing("vocab_size");
        int inter = Int(c, "intermediate_size") ?? throw Missing("intermediate_size");
        if (hidden <= 0 || heads <= 0 || kvHeads <= 0 || layers <= 0 || headDim <= 0 || vocab <= 0 || inter <= 0)
        {
            throw new ModelFormatException("sizes (hidden_size, heads, layers, head_dim, vocab_size, intermediate_size) must be positive");
        }

        if (heads % kvHeads != 0)
        {
            throw new ModelFormatException($"num_attention_heads ({heads}) is not a multiple of num_key_value_heads ({kvHeads})");
        }

        if (headDim % 2 != 0)
        {
            throw new ModelFormatException($"head_dim ({headDim}) must be even for rotary embeddings");
        }

        bool attentionBias = Bool(c, "attention_bias") ?? false;
        bool qwen2 = modelType == "qwen2";
        int? window = null;
        if (modelType == "mistral" || (qwen2 && (Bool(c, "use_sliding_window") ?? false)))
        {
            window = Int(c, "sliding_window");
        }

        int maxPos = Int(c, "max_position_embeddings") ?? 2048;
        return new ModelConfig
        {
            ModelType = modelType,
            HiddenSize = hidden,
            IntermediateSize = inter,
            NumLayers = layers,
            NumHeads = heads,
            NumKvHeads = kvHeads,
            HeadDim = headDim,
            VocabSize = vocab,
            MaxPositionEmbeddings = maxPos,
            RmsNormEps = Double(c, "rms_norm_eps") ?? 1e-6,
            Rope = RopeConfig.Parse(c, headDim, maxPos),
            TieWordEmbeddings = Bool(c, "tie_word_embeddings") ?? false,
            QkvBias = qwen2 || attentionBias,
            OutputBias = !qwen2 && attentionBias,
            MlpBias = Bool(c, "mlp_bias") ?? false,
            SlidingWindow = window,
            Raw = c,
        };
    }

    /// <summary>Bytes of KV cache one token takes across all layers at <paramref name="bytesPerElement"/>.</summary>
    public long KvBytesPerToken(int bytesPerElement) => 2L * NumLayers * NumKvHeads * HeadDim * bytesPerElement;

    private static ModelFormatException Missing(string key) => new($"config has no {key}");

    internal static string? Str(JsonObject c, string key) =>
        c.TryGetPropertyValue(key, out var v) && v is JsonValue jv && jv.TryGetValue(out string? s) ? s : null;

    internal static int? Int(JsonObject c, string key) => Double(c, key) switch
    {
        null => null,
        double d when d == Math.Floor(d) && d >= int.MinValue && d <= int.MaxValue => (int)d,
        _ => throw new ModelFormatException($"config key {key} must be an integer, got {c[key]!.ToJsonString()}"),
    };

    internal static double? Double(JsonObject c, string key) => Value<double>(c, key, "a number");

    internal static bool? Bool(JsonObject c, string key) => Value<bool>(c, key, "true or false");

    /// <summary>The value of <paramref name="key"/> as <typeparamref name="T"/>, null when absent or null, else an error naming <paramref name="what"/> it must be.</summary>
    private static T? Value<T>(JsonObject c, string key, string what)
        where T : struct
    {
        if (!c.TryGetPropertyValue(key, out var v) || v is null)
        {
            return null;
        }

        return v is JsonValue jv && jv.TryGetValue(out T value)
            ? value
            : throw new ModelFormatException($"config key {key} must be {what}, got {v.ToJsonString()}");
    }
}
