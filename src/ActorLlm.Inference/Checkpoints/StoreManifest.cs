using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using ActorLlm.Inference.Config;
using ActorLlm.Protocol;

namespace ActorLlm.Inference.Checkpoints;

/// <summary>One unit's file in a store: where it is, how big, its sha256, and the tensors it holds.</summary>
public sealed record UnitManifestEntry(int Index, string Name, string File, long Bytes, string Sha256, IReadOnlyList<TensorInfo> Tensors);

/// <summary>A tokenizer or generation file copied beside the units, with its size and sha256.</summary>
public sealed record StoreFileEntry(string Name, long Bytes, string Sha256);

/// <summary>
/// <c>manifest.json</c> of a unit store: the model's config.json object verbatim, one entry per unit and the
/// copied tokenizer files. Plain data: <see cref="ToJson"/> and <see cref="Parse"/> give the exact bytes a worker
/// writes, so a manifest can be sent to a peer that has no model yet.
/// </summary>
public sealed record StoreManifest
{
    public const string FormatName = "actorllm-unit-store";
    public const int CurrentVersion = 1;

    /// <summary>
    /// Files copied from a Hugging Face directory when present. config.json is copied too but is not listed: its
    /// content is <see cref="Config"/>, and a store created from a manifest writes it from there.
    /// </summary>
    public static readonly IReadOnlyList<string> CopiedFileNames =
        ["generation_config.json", "tokenizer.json", "tokenizer.model", "tokenizer_config.json", "special_tokens_map.json"];

    private static readonly JsonSerializerOptions s_json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        Converters = { new JsonStringEnumConverter() },
        RespectNullableAnnotations = true,
        RespectRequiredConstructorParameters = true,
        WriteIndented = true,
    };

    /// <summary>Always <see cref="FormatName"/>: tells a store's manifest from any other JSON file.</summary>
    public string Format { get; init; } = FormatName;

    public int Version { get; init; } = CurrentVersion;

    /// <summary>The model's config.json object, verbatim.</summary>
    public required JsonObject Config { get; init; }

    /// <summary>begin, layer.0 .. layer.L-1, end, in unit order.</summary>
    public required IReadOnlyList<UnitManifestEntry> Units { get; init; }

    /// <summary>The safetensors dtypes the unit files hold.</summary>
    [JsonPropertyName("dtypes")]
    public required IReadOnlyList<SafetensorsDType> DTypes { get; init; }

    /// <summary>
    /// True when the end unit's <c>lm_head.weight</c> is a copy of the embedding (tied embeddings, or no
    /// <c>lm_head.weight</c> in the checkpoint): one matrix stored twice, so it counts once as parameters.
    /// </summary>
    public required bool TiedHead { get; init; }

    public IReadOnlyList<StoreFileEntry> Files { get; init; } = [];

    /// <summary>
    /// How the weights are stored. Absent from the JSON when <see cref="WeightFormat.Source"/>, so the manifests of
    /// stores written before the field existed read as they always did, and still write the same bytes.
    /// </summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public WeightFormat Weights { get; init; } = WeightFormat.Source;

    [JsonIgnore]
    public long TotalBytes => Units.Sum(u => u.Bytes);

    public byte[] ToJson() => JsonSerializer.SerializeToUtf8Bytes(this, s_json);

    /// <summary>Reads and validates a manifest; <paramref name="source"/> names it in error messages.</summary>
    public static StoreManifest Parse(ReadOnlySpan<byte> json, string source)
    {
        StoreManifest? manifest;
        try
        {
            manifest = JsonSerializer.Deserialize<StoreManifest>(json, s_json);
        }
        catch (JsonException e)
        {
            throw new ModelFormatException($"{source}: not a valid unit store manifest: {e.Message}", e);
        }

        if (manifest is null)
        {
            throw new ModelFormatException($"{source}: manifest is null");
        }

        manifest.Validate(source);
        return manifest;
    }

    /// <summary>The architecture, parsed from <see cref="Config"/>.</summary>
    public ModelConfig ParseConfig(string source)
    {
        try
        {
            return ModelConfig.Parse(Config);
        }
        catch (ModelFormatException e)
        {
            throw new ModelFormatException($"{source}: config: {e.Message}", e);
        }
    }

    /// <summary>
    /// Checks what a reader relies on: format and version, one entry per unit in order with the unit's own file
    /// name (so a manifest from a peer cannot name paths outside the store), well-formed checksums, tensor names
    /// unique across units, and only known copied files.
    /// </summary>
    public void Validate(string source)
    {
        if (Format != FormatName)
        {
            throw new ModelFormatException($"{source}: format '{Format}' is not '{FormatName}'");
        }

        if (Version != CurrentVersion)
        {
            throw new ModelFormatException($"{source}: manifest version {Version} is not supported (this build reads version {CurrentVersion})");
        }

        var config = ParseConfig(source);
        if (Units.Count != config.UnitCount)
        {
            throw new ModelFormatException($"{source}: {Units.Count} units listed, but the config's {config.NumLayers} layers make {config.UnitCount}");
        }

        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (int i = 0; i < Units.Count; i++)
        {
            var u = Units[i];
            string name = UnitRange.UnitName(i, config.NumLayers);
            if (u.Index != i || u.Name != name || u.File != FileNameOf(name))
            {
                throw new ModelFormatException($"{source}: unit {i} must be '{name}' in '{FileNameOf(name)}', got index {u.Index} '{u.Name}' in '{u.File}'");
            }

            CheckDigest(source, u.File, u.Bytes, u.Sha256);
            if (u.Tensors.Count == 0)
            {
                throw new ModelFormatException($"{source}: unit {name} lists no tensors");
            }

            foreach (var t in u.Tensors)
            {
                if (!seen.Add(t.Name))
                {
                    throw new ModelFormatException($"{source}: tensor '{t.Name}' is listed twice");
                }
            }
        }

        CheckWeights(source, config);
        foreach (var f in Files)
        {
            if (!CopiedFileNames.Contains(f.Name))
            {
                throw new ModelFormatException($"{source}: unexpected file '{f.Name}' (a store copies only {string.Join(", ", CopiedFileNames)})");
            }

            CheckDigest(source, f.Name, f.Bytes, f.Sha256);
        }
    }

    /// <summary>
    /// The tensors' dtypes agree with <see cref="Weights"/>: in a source-format store every tensor is floating point
    /// (an int8 tensor there would be read as plain numbers, without its scale); in an int8 store each layer's seven
    /// projection weights are I8 [out, in], each with its F32 scale [out], and nothing else is an integer or a scale.
    /// </summary>
    private void CheckWeights(string source, ModelConfig config)
    {
        for (int i = 0; i < Units.Count; i++)
        {
            var tensors = Units[i].Tensors.ToDictionary(t => t.Name, StringComparer.Ordinal);
            var quantized = Weights == WeightFormat.Int8AbsmaxPerChannel ? UnitTensors.QuantizedWeights(config, i) : [];
            var expected = new HashSet<string>(StringComparer.Ordinal);
            foreach (string name in quantized)
            {
                string scaleName = Int8Quantization.ScaleName(name);
                expected.Add(name);
                expected.Add(scaleName);
                if (!tensors.TryGetValue(name, out var weight) || weight.DType != SafetensorsDType.I8 || weight.Shape.Length != 2)
                {
                    string found = weight is null ? "missing" : $"{weight.DType} [{string.Join(", ", weight.Shape)}]";
                    throw new ModelFormatException($"{source}: the manifest says weights are '{Weights.Name()}', but tensor '{name}' is {found}, not I8 [out, in]");
                }

                if (!tensors.TryGetValue(scaleName, out var scale) || scale.DType != SafetensorsDType.F32 || !scale.Shape.SequenceEqual([weight.Shape[0]]))
                {
                    string found = scale is null ? "missing" : $"{scale.DType} [{string.Join(", ", scale.Shape)}]";
                    throw new ModelFormatException($"{source}: int8 weight '{name}' needs its scale '{scaleName}' as F32 [{weight.Shape[0]}], but it is {found}");
                }
            }

            foreach (var t in Units[i].Tensors.Where(t => !expected.Contains(t.Name)))
            {
                if (t.DType is not (SafetensorsDType.F32 or SafetensorsDType.F16 or SafetensorsDType.BF16 or SafetensorsDType.F64))
                {
                    throw new ModelFormatException(
                        $"{source}: tensor '{t.Name}' is {t.DType}, but the manifest says weights are '{Weights.Name()}': "
                        + (Weights == WeightFormat.Source ? "refusing to read quantized data as plain numbers" : "only the layers' projection weights are quantized"));
                }

                if (t.Name.EndsWith(Int8Quantization.ScaleSuffix, StringComparison.Ordinal))
                {
                    throw new ModelFormatException($"{source}: tensor '{t.Name}' is a scale of no int8 weight (weights are '{Weights.Name()}')");
                }
            }
        }
    }

    private static void CheckDigest(string source, string file, long bytes, string sha256)
    {
        if (bytes < 0 || sha256.Length != 64 || !sha256.All(char.IsAsciiHexDigitLower))
        {
            throw new ModelFormatException($"{source}: '{file}' needs a size >= 0 and a sha256 of 64 lowercase hex digits, got {bytes} and '{sha256}'");
        }
    }

    /// <summary>A unit's file name: <c>begin.safetensors</c>, <c>layer.N.safetensors</c>, <c>end.safetensors</c>.</summary>
    public static string FileNameOf(string unitName) => unitName + ".safetensors";
}
