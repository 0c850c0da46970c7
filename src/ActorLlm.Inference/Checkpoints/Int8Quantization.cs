using static TorchSharp.torch;

namespace ActorLlm.Inference.Checkpoints;

/// <summary>
/// Symmetric per-output-channel absmax int8 (<see cref="WeightFormat.Int8AbsmaxPerChannel"/>): for each row r of a
/// weight [out, in], scale[r] = max_j |w[r, j]| / 127 and q[r, j] = round(w[r, j] / scale[r]) in [-127, 127], so
/// |w - q x scale| &lt;= scale / 2 element by element (a zero row has scale 0 and q 0, exactly). Computed in f32;
/// scales are stored in f32 (see docs/int8.md for why not bf16).
/// </summary>
public static class Int8Quantization
{
    /// <summary>The largest magnitude of a quantized value (-128 is never used: the range is symmetric).</summary>
    public const int MaxLevel = 127;

    /// <summary>Suffix of a quantized weight's scale tensor: <c>...q_proj.weight</c> has <c>...q_proj.weight_scale</c>.</summary>
    public const string ScaleSuffix = "_scale";

    /// <summary>The scale tensor's name for the quantized weight <paramref name="weightName"/>.</summary>
    public static string ScaleName(string weightName) => weightName + ScaleSuffix;

    /// <summary>
    /// Quantizes a 2-D floating-point weight [out, in] (any device, any float dtype) to int8 [out, in] and f32 scales
    /// [out] on the same device. The caller owns both. Refuses weights with NaN or infinite values.
    /// </summary>
    public static (Tensor Data, Tensor Scale) Quantize(Tensor weight, string name = "weight")
    {
        if (weight.dim() != 2 || !weight.is_floating_point())
        {
            throw new ModelFormatException($"'{name}': int8 quantization takes a 2-D floating-point weight, got {weight.dtype} [{string.Join(", ", weight.shape)}]");
        }

        using var scope = NewDisposeScope();
        var w = weight.to(ScalarType.Float32);
        var absmax = w.abs().amax([1]);                                              // [out]
        if (!absmax.isfinite().all().item<bool>())
        {
            throw new ModelFormatException($"'{name}': weight holds NaN or infinite values; it cannot be quantized");
        }

        var scale = absmax / MaxLevel;                                                // [out]
        var divisor = where(scale > 0, scale, ones_like(scale)).unsqueeze(1);         // zero rows: q = 0 / 1 = 0
        var data = (w / divisor).round_().clamp_(-MaxLevel, MaxLevel).to(ScalarType.Int8);
        return (data.MoveToOuterDisposeScope(), scale.MoveToOuterDisposeScope());
    }

    /// <summary>q x scale per row, in <paramref name="dtype"/>: [out, in]. The caller owns the result.</summary>
    public static Tensor Dequantize(Tensor data, Tensor scale, ScalarType dtype = ScalarType.Float32)
    {
        using var scope = NewDisposeScope();
        return (data.to(ScalarType.Float32) * scale.to(ScalarType.Float32).unsqueeze(1)).to(dtype).MoveToOuterDisposeScope();
    }
}
