using ActorLlm.Inference.Devices;
using ActorLlm.Protocol;
using static TorchSharp.torch;

namespace ActorLlm.Inference.Execution;

/// <summary>Tensors to and from their wire form (<see cref="TensorPayload"/>: dtype, shape, raw bytes).</summary>
public static class TensorCodec
{
    /// <summary>Copies <paramref name="tensor"/> (any device) to the wire in <paramref name="dtype"/>.</summary>
    public static TensorPayload ToPayload(Tensor tensor, ScalarType dtype)
    {
        using var converted = tensor.to(dtype, CPU);
        using var cpu = converted.contiguous();
        return new TensorPayload(dtype.ToDType(), cpu.shape.Select(d => checked((int)d)).ToArray(), cpu.bytes.ToArray());
    }

    /// <summary>A new CPU tensor holding the payload (validated by the serializer on arrival).</summary>
    public static Tensor FromPayload(TensorPayload payload)
    {
        var t = empty(payload.Shape.Select(d => (long)d).ToArray(), payload.DType.ToTorch(), CPU);
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
