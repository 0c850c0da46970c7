using ActorLlm.Protocol;
using static TorchSharp.torch;

namespace ActorLlm.Inference.Execution;

/// <summary>Tensors to and from their wire form (<see cref="TensorPayload"/>: dtype name, shape, raw bytes).</summary>
public static class TensorCodec
{
    public static string Name(ScalarType dtype) => dtype switch
    {
        ScalarType.Float32 => "f32",
        ScalarType.Float16 => "f16",
        ScalarType.BFloat16 => "bf16",
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), $"{dtype} does not travel on the wire"),
    };

    public static ScalarType DType(string name) => name switch
    {
        "f32" => ScalarType.Float32,
        "f16" => ScalarType.Float16,
        "bf16" => ScalarType.BFloat16,
        _ => throw new WireFormatException($"tensor dtype '{name}' is not one of f32, f16, bf16"),
    };

    /// <summary>Copies <paramref name="tensor"/> (any device) to the wire in <paramref name="dtype"/>.</summary>
    public static TensorPayload ToPayload(Tensor tensor, ScalarType dtype)
    {
        using var cpu = tensor.to(dtype, CPU).contiguous();
        return new TensorPayload(Name(dtype), cpu.shape.Select(d => checked((int)d)).ToArray(), cpu.bytes.ToArray());
    }

    /// <summary>A new CPU tensor holding the payload (validated by the serializer on arrival).</summary>
    public static Tensor FromPayload(TensorPayload payload)
    {
        var t = empty(payload.Shape.Select(d => (long)d).ToArray(), DType(payload.DType), CPU);
        try
        {
            payload.Data.AsSpan().CopyTo(t.bytes);
            return t;
        }
        catch
        {
            t.Dispose();
            throw;
        }
    }
}
