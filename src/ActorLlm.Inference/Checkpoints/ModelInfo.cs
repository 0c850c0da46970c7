using System.Globalization;
using System.Text;
using ActorLlm.Inference.Config;
using ActorLlm.Inference.Devices;
using ActorLlm.Protocol;
using static TorchSharp.torch;

namespace ActorLlm.Inference.Checkpoints;

/// <summary>
/// One unit as stored: the parameters a stage serving it loads (the end unit includes the head, even when it is a
/// copy of the embedding), its tensors' data bytes in the stored dtype, its file size in a store (null for a
/// Hugging Face directory), and whether its file is present (a partial store lacks some). <see cref="QuantizableParameters"/>
/// and <see cref="QuantizableRows"/> are the elements and output rows of the unit's projection weights, the ones
/// <see cref="WeightFormat.Int8AbsmaxPerChannel"/> stores in 8 bits (one f32 scale per row); the tensor bytes of an
/// int8 store include the scales.
/// </summary>
public sealed record UnitInfo(int Index, string Name, int Tensors, long Parameters, long TensorBytes, long? FileBytes, bool Present, long QuantizableParameters = 0, long QuantizableRows = 0)
{
    /// <summary>The bytes the unit's weights take on a device computing with <paramref name="bytesPerElement"/>-byte elements, stored as <paramref name="format"/>.</summary>
    public long DeviceBytes(int bytesPerElement, WeightFormat format) => format == WeightFormat.Int8AbsmaxPerChannel
        ? ((Parameters - QuantizableParameters) * bytesPerElement) + QuantizableParameters + (QuantizableRows * sizeof(float))
        : Parameters * bytesPerElement;
}

/// <summary>
/// Memory a stage needs: its weights at <see cref="BytesPerElement"/> (the projection weights at 1 byte plus an f32
/// scale per row when <see cref="Weights"/> is int8) plus the KV cache for <see cref="Sessions"/> x
/// <see cref="Context"/> tokens.
/// </summary>
public sealed record MemoryEstimate(UnitRange Range, int BytesPerElement, long Parameters, long WeightBytes, long KvBytesPerToken, int Context, int Sessions, WeightFormat Weights = WeightFormat.Source)
{
    public long KvBytes => KvBytesPerToken * Context * Sessions;

    public long TotalBytes => WeightBytes + KvBytes;
}

/// <summary>
/// What a model directory holds, computed from headers or the manifest alone (no tensor data is read):
/// architecture, parameter count, bytes per unit, and memory estimates. Backs <c>actorllm info DIR</c>.
/// </summary>
public sealed record ModelInfo
{
    public required string Directory { get; init; }

    /// <summary>"unit store" or "Hugging Face checkpoint".</summary>
    public required string Kind { get; init; }

    public required ModelConfig Config { get; init; }

    /// <summary>
    /// Distinct parameters: element counts of the tensors the units use, with a tied head (the embedding matrix
    /// again) counted once. Tensors no unit uses (rotary buffers) are not parameters and are listed in
    /// <see cref="UnusedTensors"/>.
    /// </summary>
    public required long Parameters { get; init; }

    /// <summary>The LM head is the embedding matrix (tied, or no <c>lm_head.weight</c> in the checkpoint).</summary>
    public required bool TiedHead { get; init; }

    public required IReadOnlyList<UnitInfo> Units { get; init; }

    public required IReadOnlyList<SafetensorsDType> StoredDTypes { get; init; }

    public required IReadOnlyList<string> UnusedTensors { get; init; }

    /// <summary>How the weights are stored (a Hugging Face directory: always <see cref="WeightFormat.Source"/>).</summary>
    public WeightFormat Weights { get; init; } = WeightFormat.Source;

    public static ModelInfo Of(IWeightSource source)
    {
        var config = source.Config;
        var store = source as UnitStore;
        var units = new List<UnitInfo>();
        var dtypes = new SortedSet<SafetensorsDType>();
        var used = new HashSet<string>(StringComparer.Ordinal);
        for (int unit = 0; unit < config.UnitCount; unit++)
        {
            var tensors = UnitTensors.Required(config, unit, source.Contains)
                .Where(source.Contains)
                .Select(source.Describe)
                .ToArray();
            var quantizable = UnitTensors.QuantizedWeights(config, unit).Where(source.Contains).Select(source.Describe).ToArray();
            var scales = source.Weights == WeightFormat.Int8AbsmaxPerChannel
                ? quantizable.Select(t => source.Describe(Int8Quantization.ScaleName(t.Name))).ToArray()
                : [];
            used.UnionWith(tensors.Concat(scales).Select(t => t.Name));
            dtypes.UnionWith(tensors.Concat(scales).Select(t => t.DType));
            units.Add(new UnitInfo(
                unit,
                UnitRange.UnitName(unit, config.NumLayers),
                tensors.Length + scales.Length,
                tensors.Sum(t => t.ElementCount),
                tensors.Sum(t => t.Length) + scales.Sum(t => t.Length),
                store?.Unit(unit).Bytes,
                store?.HasUnit(unit) ?? true,
                quantizable.Sum(t => t.ElementCount),
                quantizable.Sum(t => t.Shape[0])));
        }

        bool tied = store?.Manifest.TiedHead ?? (config.TieWordEmbeddings || !source.Contains(UnitTensors.LmHead));
        return new ModelInfo
        {
            Directory = source.Directory,
            Kind = store is null ? "Hugging Face checkpoint" : "unit store",
            Config = config,
            Parameters = units.Sum(u => u.Parameters) - (tied ? units[0].Parameters : 0),
            TiedHead = tied,
            Units = units,
            StoredDTypes = dtypes.ToArray(),
            UnusedTensors = source.TensorNames.Where(n => !used.Contains(n)).Order(StringComparer.Ordinal).ToArray(),
            Weights = source.Weights,
        };
    }

    public static int BytesPerElement(ScalarType dtype) => SafetensorsDTypes.FromScalarType(dtype).Size();

    /// <summary>KV cache bytes one token takes in the layers of <paramref name="range"/> (default: all): 2 x layers x kv_heads x head_dim x dtype bytes.</summary>
    public long KvBytesPerToken(ScalarType dtype, UnitRange? range = null) =>
        2L * LayersIn(range ?? UnitRange.Whole(Config.NumLayers)) * Config.NumKvHeads * Config.HeadDim * BytesPerElement(dtype);

    private int LayersIn(UnitRange r) => Math.Max(0, Math.Min(r.End, Config.NumLayers + 1) - Math.Max(r.Start, 1));

    /// <summary>
    /// Memory for a stage serving <paramref name="range"/> (default: the whole model) computing in
    /// <paramref name="dtype"/>, with KV room for <paramref name="sessions"/> sessions of <paramref name="context"/>
    /// tokens (default: max_position_embeddings). Weights are the parameters the stage loads: a stage holding
    /// both begin and end of a tied model holds the embedding twice (embedding and head), as the executor does.
    /// <paramref name="weights"/> (default: the format the model is stored in) says whether the projection weights
    /// take <paramref name="dtype"/>'s bytes or 1 byte plus a 4-byte scale per output row (int8).
    /// </summary>
    public MemoryEstimate Estimate(ScalarType dtype, int? context = null, int sessions = 1, UnitRange? range = null, WeightFormat? weights = null)
    {
        var r = range ?? UnitRange.Whole(Config.NumLayers);
        if (r.End > Config.UnitCount)
        {
            throw new InvalidRequestException($"unit range {r} exceeds the model's {Config.UnitCount} units");
        }

        var format = weights ?? Weights;
        var inRange = Units.Where(u => r.Contains(u.Index)).ToArray();
        long parameters = inRange.Sum(u => u.Parameters);
        int bytes = BytesPerElement(dtype);
        long weightBytes = inRange.Sum(u => u.DeviceBytes(bytes, format));
        return new MemoryEstimate(r, bytes, parameters, weightBytes, KvBytesPerToken(dtype, r), context ?? Config.MaxPositionEmbeddings, sessions, format);
    }

    /// <summary>A human summary for <c>actorllm info</c>: architecture, parameters, units, memory at <paramref name="dtype"/>.</summary>
    public string ToText(ScalarType dtype = ScalarType.Float32, int? context = null)
    {
        var c = Config;
        var s = new StringBuilder();
        var inv = CultureInfo.InvariantCulture;
        s.AppendLine(inv, $"{Kind}: {Directory}");
        s.AppendLine(inv, $"architecture: {c.ModelType}, {c.NumLayers} layers, hidden {c.HiddenSize}, intermediate {c.IntermediateSize}, "
            + $"{c.NumHeads} heads / {c.NumKvHeads} kv heads x {c.HeadDim}, vocab {c.VocabSize}, context {c.MaxPositionEmbeddings}");
        string rope = c.Rope.Type == RopeType.Default ? $"theta {c.Rope.Theta}" : $"{c.Rope.Type} x{c.Rope.Factor}, theta {c.Rope.Theta}";
        s.AppendLine(inv, $"rope: {rope}; biases: qkv {c.QkvBias}, output {c.OutputBias}, mlp {c.MlpBias}; sliding window: {c.SlidingWindow?.ToString(inv) ?? "none"}; tied head: {TiedHead}");
        s.AppendLine(inv, $"parameters: {Parameters:N0} ({Human(Parameters)}); stored as {string.Join(", ", StoredDTypes)}; weights {Weights.Name()}");
        if (UnusedTensors.Count > 0)
        {
            s.AppendLine(inv, $"not used by any unit: {string.Join(", ", UnusedTensors)}");
        }

        s.AppendLine(inv, $"units ({Units.Count}):");
        foreach (var u in Units)
        {
            string file = u.FileBytes is long f ? $", file {Bytes(f)}" + (u.Present ? string.Empty : " (absent)") : string.Empty;
            s.AppendLine(inv, $"  {u.Index,4} {u.Name,-10} {u.Tensors,3} tensors {u.Parameters,14:N0} params {Bytes(u.TensorBytes),10}{file}");
        }

        var e = Estimate(dtype, context);
        string name = dtype.ToDType().Name() + (Weights == WeightFormat.Source ? string.Empty : $" with {Weights.Name()} weights");
        s.AppendLine(inv, $"memory at {name}: weights {Bytes(e.WeightBytes)} (whole model in one stage), "
            + $"KV cache {Bytes(e.KvBytesPerToken)} per token, {Bytes(e.KvBytes)} for {e.Context} tokens, total {Bytes(e.TotalBytes)} per session");
        if (Weights == WeightFormat.Source)
        {
            var q = Estimate(dtype, context, weights: WeightFormat.Int8AbsmaxPerChannel);
            s.AppendLine(inv, $"memory at {dtype.ToDType().Name()} with int8 weights (convert --weights int8): weights {Bytes(q.WeightBytes)} "
                + $"({100.0 * q.WeightBytes / Math.Max(1, e.WeightBytes):0.#}% of {Bytes(e.WeightBytes)}), total {Bytes(q.TotalBytes)} per session");
        }

        return s.ToString();
    }

    private static string Human(long n) => n switch
    {
        >= 1_000_000_000 => (n / 1e9).ToString("0.##", CultureInfo.InvariantCulture) + "B",
        >= 1_000_000 => (n / 1e6).ToString("0.##", CultureInfo.InvariantCulture) + "M",
        >= 1_000 => (n / 1e3).ToString("0.##", CultureInfo.InvariantCulture) + "K",
        _ => n.ToString(CultureInfo.InvariantCulture),
    };

    private static string Bytes(long b) => b switch
    {
        >= 1L << 30 => (b / (double)(1L << 30)).ToString("0.00", CultureInfo.InvariantCulture) + " GiB",
        >= 1L << 20 => (b / (double)(1L << 20)).ToString("0.00", CultureInfo.InvariantCulture) + " MiB",
        >= 1L << 10 => (b / (double)(1L << 10)).ToString("0.0", CultureInfo.InvariantCulture) + " KiB",
        _ => b.ToString(CultureInfo.InvariantCulture) + " B",
    };
}
