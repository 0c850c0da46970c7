using System.Text.Json.Serialization;

namespace ActorLlm.Inference.Checkpoints;

/// <summary>
/// How a store holds its weights: as the source checkpoint did (f32, f16 or bf16; the default, and what every
/// manifest without a <c>weights</c> field means), or with the decoder layers' linear weights in 8 bits
/// (<see cref="Int8Quantization"/>). The manifest records it and the loader checks it, so an int8 store is never
/// read as a floating-point one.
/// </summary>
public enum WeightFormat
{
    /// <summary>Every tensor in the checkpoint's own floating-point dtype.</summary>
    [JsonStringEnumMemberName("source")]
    Source,

    /// <summary>
    /// q, k, v, o, gate, up and down projection weights as int8 [out, in] with one f32 scale per output row
    /// (<c>NAME_scale</c> [out]): w ~ q x scale, scale = max|row| / 127. Embeddings, norms, biases and the LM head stay
    /// in the source dtype.
    /// </summary>
    [JsonStringEnumMemberName("int8-absmax-per-channel")]
    Int8AbsmaxPerChannel,
}

public static class WeightFormats
{
    /// <summary>The CLI's spellings: <c>source</c> (keep the dtype) and <c>int8</c>.</summary>
    public static WeightFormat Parse(string spec) => spec.Trim().ToLowerInvariant() switch
    {
        "source" or "keep" => WeightFormat.Source,
        "int8" or "int8-absmax-per-channel" => WeightFormat.Int8AbsmaxPerChannel,
        _ => throw new InvalidRequestException($"unknown weight format '{spec}' (use source or int8)"),
    };

    /// <summary>The manifest's spelling.</summary>
    public static string Name(this WeightFormat format) => format switch
    {
        WeightFormat.Source => "source",
        WeightFormat.Int8AbsmaxPerChannel => "int8-absmax-per-channel",
        _ => throw new ArgumentOutOfRangeException(nameof(format)),
    };
}
