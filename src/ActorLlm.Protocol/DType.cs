namespace ActorLlm.Protocol;

/// <summary>The floating-point formats a stage computes in and tensors travel in.</summary>
public enum DType
{
    F32,
    F16,
    BF16,
}

/// <summary>Names and sizes of <see cref="DType"/>.</summary>
public static class DTypes
{
    /// <summary>Bytes per element.</summary>
    public static int Size(this DType dtype) => dtype switch
    {
        DType.F32 => 4,
        DType.F16 or DType.BF16 => 2,
        _ => throw new WireFormatException($"dtype {(int)dtype} is not one of f32, f16, bf16"),
    };

    /// <summary>The short name used on the command line and in logs: "f32", "f16", "bf16".</summary>
    public static string Name(this DType dtype) => dtype switch
    {
        DType.F32 => "f32",
        DType.F16 => "f16",
        DType.BF16 => "bf16",
        _ => throw new WireFormatException($"dtype {(int)dtype} is not one of f32, f16, bf16"),
    };

    /// <summary>Parses the short name or the usual spellings (float32, fp16, half, bfloat16, ...); null for anything else.</summary>
    public static DType? TryParse(string? name) => name?.Trim().ToLowerInvariant() switch
    {
        "f32" or "float32" or "fp32" or "float" => DType.F32,
        "f16" or "float16" or "fp16" or "half" => DType.F16,
        "bf16" or "bfloat16" => DType.BF16,
        _ => null,
    };
}
