using ActorLlm.Protocol;
using static TorchSharp.torch;

namespace ActorLlm.Inference.Devices;

/// <summary>The one mapping between the pool's <see cref="DType"/> and TorchSharp's scalar types.</summary>
public static class TorchDTypes
{
    public static ScalarType ToTorch(this DType dtype) => dtype switch
    {
        DType.F32 => ScalarType.Float32,
        DType.F16 => ScalarType.Float16,
        DType.BF16 => ScalarType.BFloat16,
        _ => throw new WireFormatException($"dtype {(int)dtype} is not one of f32, f16, bf16"),
    };

    /// <summary>The pool's name for <paramref name="type"/>; throws for types that never leave a stage (integers, f64).</summary>
    public static DType ToDType(this ScalarType type) => type switch
    {
        ScalarType.Float32 => DType.F32,
        ScalarType.Float16 => DType.F16,
        ScalarType.BFloat16 => DType.BF16,
        _ => throw new ArgumentOutOfRangeException(nameof(type), $"{type} is not a compute dtype (f32, f16, bf16)"),
    };
}
