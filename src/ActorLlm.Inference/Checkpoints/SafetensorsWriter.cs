using System.Security.Cryptography;
using System.Text.Json;
using TorchSharp;
using static TorchSharp.torch;

namespace ActorLlm.Inference.Checkpoints;

/// <summary>
/// One tensor to be written: its header entry (name, dtype, shape) and where its bytes come from. The bytes are
/// pulled only when the writer reaches this tensor, so a whole model never sits in memory.
/// </summary>
public sealed class PendingTensor
{
    private readonly Action<long, Span<byte>> _read;

    private PendingTensor(string name, SafetensorsDType dtype, long[] shape, Action<long, Span<byte>> read)
    {
        Name = name;
        DType = dtype;
        Shape = shape;
        Length = checked(shape.Aggregate(1L, (a, b) => checked(a * b)) * dtype.Size());
        _read = read;
    }

    public string Name { get; }

    public SafetensorsDType DType { get; }

    public long[] Shape { get; }

    /// <summary>Data bytes: elements x dtype size.</summary>
    public long Length { get; }

    /// <summary>The raw bytes of <paramref name="entry"/>, copied as stored (no decode), under <paramref name="name"/> or its own name.</summary>
    public static PendingTensor FromFile(SafetensorsFile file, SafetensorsEntry entry, string? name = null) =>
        new(name ?? entry.Name, entry.DType, entry.Shape, (offset, destination) => file.ReadBytes(entry, destination, offset));

    /// <summary>A contiguous CPU tensor's bytes in its own dtype. The tensor must stay alive until the write is done.</summary>
    public static PendingTensor FromTensor(string name, Tensor tensor)
    {
        if (tensor.device_type != DeviceType.CPU || !tensor.is_contiguous())
        {
            throw new ArgumentException($"tensor '{name}' must be a contiguous CPU tensor (it is on {tensor.device}); copy it first", nameof(tensor));
        }

        var dtype = SafetensorsDTypes.FromScalarType(tensor.dtype);
        long elementSize = dtype.Size();
        return new PendingTensor(name, dtype, tensor.shape, (offset, destination) =>
        {
            // Through a flat view: Tensor.bytes spans the whole storage, which may pass int range.
            using var flat = tensor.view(-1);
            using var part = flat.narrow(0, offset / elementSize, destination.Length / elementSize);
            part.bytes.CopyTo(destination);
        });
    }

    /// <summary>Bytes given in memory (tests, and small tensors built by hand).</summary>
    public static PendingTensor FromBytes(string name, SafetensorsDType dtype, long[] shape, byte[] bytes)
    {
        var t = new PendingTensor(name, dtype, shape, (offset, destination) => bytes.AsSpan((int)offset, destination.Length).CopyTo(destination));
        if (t.Length != bytes.Length)
        {
            throw new ArgumentException($"tensor '{name}': {dtype} x [{string.Join(", ", shape)}] needs {t.Length} bytes, got {bytes.Length}", nameof(bytes));
        }

        return t;
    }

    internal void Read(long offsetInTensor, Span<byte> destination) => _read(offsetInTensor, destination);
}

/// <summary>What a write produced: the file's size and the sha256 of all its bytes (lowercase hex).</summary>
public sealed record SafetensorsWriteResult(string Path, long Bytes, string Sha256);

/// <summary>
/// Writes safetensors files the way the reference implementation does: 8-byte little-endian header length, a
/// JSON header (optional <c>__metadata__</c> of strings, then each tensor's dtype, shape and contiguous
/// <c>data_offsets</c>) padded with spaces to a multiple of 8 bytes, then the tensors' bytes in header order.
/// Sizes are known up front, so the header is written first and each tensor is then streamed from its source in
/// chunks; the sha256 is computed over the bytes as they are written.
/// </summary>
public static class SafetensorsWriter
{
    /// <summary>Bytes copied per read: large enough for fast sequential IO, small enough to keep memory flat.</summary>
    public const int ChunkBytes = 4 * 1024 * 1024;

    /// <summary>
    /// Writes <paramref name="tensors"/> to <paramref name="path"/> atomically: into a hidden partial file beside it,
    /// flushed, then renamed over <paramref name="path"/>. A failed write leaves no partial file behind.
    /// </summary>
    public static SafetensorsWriteResult WriteFile(string path, IReadOnlyList<PendingTensor> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        string full = System.IO.Path.GetFullPath(path);
        string partial = PartialPath(full);
        try
        {
            long bytes;
            string sha;
            using (var stream = new FileStream(partial, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16))
            {
                (bytes, sha) = Write(stream, tensors, metadata);
                stream.Flush(flushToDisk: true);
            }

            File.Move(partial, full, overwrite: true);
            return new SafetensorsWriteResult(full, bytes, sha);
        }
        catch
        {
            File.Delete(partial);
            throw;
        }
    }

    /// <summary>A hidden name beside <paramref name="path"/> for a file still being written (never read as a unit).</summary>
    public static string PartialPath(string path) =>
        System.IO.Path.Combine(System.IO.Path.GetDirectoryName(path)!, $".{System.IO.Path.GetFileName(path)}.{Guid.NewGuid():N}.partial");

    /// <summary>Writes the file to <paramref name="stream"/>; returns the bytes written and their sha256.</summary>
    public static (long Bytes, string Sha256) Write(Stream stream, IReadOnlyList<PendingTensor> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        byte[] header = Header(tensors, metadata);
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        Span<byte> length = stackalloc byte[8];
        BitConverter.TryWriteBytes(length, (ulong)header.Length);
        stream.Write(length);
        sha.AppendData(length);
        stream.Write(header);
        sha.AppendData(header);
        long written = 8 + header.Length;

        long largest = tensors.Count == 0 ? 0 : tensors.Max(t => t.Length);
        var buffer = new byte[(int)Math.Clamp(largest, 1, ChunkBytes)];
        foreach (var t in tensors)
        {
            for (long offset = 0; offset < t.Length;)
            {
                int n = (int)Math.Min(buffer.Length, t.Length - offset);
                var chunk = buffer.AsSpan(0, n);
                t.Read(offset, chunk);
                stream.Write(chunk);
                sha.AppendData(chunk);
                offset += n;
                written += n;
            }
        }

        return (written, Convert.ToHexStringLower(sha.GetHashAndReset()));
    }

    /// <summary>The JSON header, padded with spaces to a multiple of 8 bytes so the data section stays aligned.</summary>
    public static byte[] Header(IReadOnlyList<PendingTensor> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var names = new HashSet<string>(StringComparer.Ordinal);
        using var json = new MemoryStream();
        using (var w = new Utf8JsonWriter(json))
        {
            w.WriteStartObject();
            if (metadata is { Count: > 0 })
            {
                w.WriteStartObject("__metadata__");
                foreach (var (key, value) in metadata)
                {
                    w.WriteString(key, value);
                }

                w.WriteEndObject();
            }

            long offset = 0;
            foreach (var t in tensors)
            {
                if (t.Name == "__metadata__" || !names.Add(t.Name))
                {
                    throw new ArgumentException($"tensor name '{t.Name}' is reserved or appears twice", nameof(tensors));
                }

                w.WriteStartObject(t.Name);
                w.WriteString("dtype", t.DType.ToString());
                w.WriteStartArray("shape");
                foreach (long d in t.Shape)
                {
                    w.WriteNumberValue(d);
                }

                w.WriteEndArray();
                w.WriteStartArray("data_offsets");
                w.WriteNumberValue(offset);
                w.WriteNumberValue(offset + t.Length);
                w.WriteEndArray();
                w.WriteEndObject();
                offset += t.Length;
            }

            w.WriteEndObject();
        }

        int padding = (int)((8 - (json.Length % 8)) % 8);
        for (int i = 0; i < padding; i++)
        {
            json.WriteByte((byte)' ');
        }

        return json.ToArray();
    }
}
