using MessagePack;

namespace ActorLlm.Protocol;

/// <summary>
/// A tensor on the wire: dtype, shape, and the raw little-endian bytes, row-major.
/// <see cref="Validate"/> checks shape x dtype = bytes and the size bound; whether the values are finite is checked
/// by the stage that uses them.
/// </summary>
[MessagePackObject]
public sealed record TensorPayload(
    [property: Key(0)] DType DType,
    [property: Key(1)] int[] Shape,
    [property: Key(2)] byte[] Data)
{
    /// <summary>Throws <see cref="WireFormatException"/> unless the payload is well formed and at most <paramref name="maxBytes"/>.</summary>
    public TensorPayload Validate(long maxBytes)
    {
        int size = DType.Size();

        if (Shape is null || Shape.Length is 0 or > 4 || Shape.Any(d => d <= 0))
        {
            throw new WireFormatException($"tensor shape [{string.Join(", ", Shape ?? [])}] must have 1 to 4 positive dimensions");
        }

        long expected = Shape.Aggregate(1L, (a, d) => a * d) * size;
        if (expected > maxBytes)
        {
            throw new WireFormatException($"tensor of {expected} bytes exceeds the {maxBytes}-byte limit");
        }

        if (Data is null || Data.LongLength != expected)
        {
            throw new WireFormatException(
                $"tensor {DType.Name()} [{string.Join(", ", Shape)}] needs {expected} bytes but carries {Data?.LongLength ?? 0}");
        }

        return this;
    }
}

/// <summary>A message from the network that is malformed or out of bounds; it is dropped, never half-used.</summary>
public sealed class WireFormatException(string message) : Exception(message);
