using System.Text.Json;
using Microsoft.Win32.SafeHandles;
using TorchSharp;
using static TorchSharp.torch;

namespace ActorLlm.Inference.Checkpoints;

/// <summary>One tensor's entry in a safetensors header. Offsets are absolute file positions.</summary>
public sealed record SafetensorsEntry(string Name, SafetensorsDType DType, long[] Shape, long Offset, long Length)
{
    public long ElementCount => Shape.Aggregate(1L, (a, b) => a * b);
}

/// <summary>
/// A safetensors file (8-byte little-endian header length, JSON header, raw data). Opening reads and validates
/// only the header; tensor data is read on request with positioned reads, so loading some tensors never
/// touches the bytes of the others. Every way a file can lie (header longer than the file, offsets out of
/// range or overlapping, byte length not matching dtype x shape) is a <see cref="ModelFormatException"/>.
/// </summary>
public sealed class SafetensorsFile : IDisposable
{
    /// <summary>Headers are JSON listing names, dtypes, shapes; 100 MB is far beyond any real one.</summary>
    public const long MaxHeaderBytes = 100L * 1024 * 1024;

    private readonly SafeFileHandle _handle;
    private long _bytesRead;

    private SafetensorsFile(string path, SafeFileHandle handle, Dictionary<string, SafetensorsEntry> entries, Dictionary<string, string> metadata)
    {
        Path = path;
        _handle = handle;
        Entries = entries;
        Metadata = metadata;
    }

    public string Path { get; }

    public IReadOnlyDictionary<string, SafetensorsEntry> Entries { get; }

    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>Tensor data bytes read from this file so far (headers not counted).</summary>
    public long BytesRead => Interlocked.Read(ref _bytesRead);

    public static SafetensorsFile Open(string path)
    {
        if (!File.Exists(path))
        {
            throw new ModelFormatException($"{path}: file not found");
        }

        SafeFileHandle handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read);
        try
        {
            long fileLength = RandomAccess.GetLength(handle);
            if (fileLength < 8)
            {
                throw new ModelFormatException($"{path}: truncated safetensors file ({fileLength} bytes, need at least 8 for the header length)");
            }

            Span<byte> lenBytes = stackalloc byte[8];
            RandomAccess.Read(handle, lenBytes, 0);
            ulong headerLength = BitConverter.ToUInt64(lenBytes);
            if (headerLength > (ulong)(fileLength - 8))
            {
                throw new ModelFormatException($"{path}: header length {headerLength} is larger than the file ({fileLength} bytes): truncated or not a safetensors file");
            }

            if ((long)headerLength > MaxHeaderBytes)
            {
                throw new ModelFormatException($"{path}: header length {headerLength} exceeds the {MaxHeaderBytes}-byte limit");
            }

            var header = new byte[headerLength];
            RandomAccess.Read(handle, header, 8);
            long dataStart = 8 + (long)headerLength;
            var (entries, metadata) = ParseHeader(path, header, dataStart, fileLength);
            return new SafetensorsFile(path, handle, entries, metadata);
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    private static (Dictionary<string, SafetensorsEntry>, Dictionary<string, string>) ParseHeader(string path, byte[] header, long dataStart, long fileLength)
    {
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(header);
        }
        catch (JsonException e)
        {
            throw new ModelFormatException($"{path}: header is not valid JSON: {e.Message}", e);
        }

        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
            {
                throw new ModelFormatException($"{path}: header must be a JSON object");
            }

            var entries = new Dictionary<string, SafetensorsEntry>(StringComparer.Ordinal);
            var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
            long dataLength = fileLength - dataStart;
            foreach (var prop in doc.RootElement.EnumerateObject())
            {
                if (prop.Name == "__metadata__")
                {
                    if (prop.Value.ValueKind == JsonValueKind.Object)
                    {
                        foreach (var m in prop.Value.EnumerateObject())
                        {
                            metadata[m.Name] = m.Value.ValueKind == JsonValueKind.String ? m.Value.GetString()! : m.Value.GetRawText();
                        }
                    }

                    continue;
                }

                entries[prop.Name] = ParseEntry(path, prop.Name, prop.Value, dataStart, dataLength);
            }

            CheckNoOverlap(path, entries.Values);
            return (entries, metadata);
        }
    }

    private static SafetensorsEntry ParseEntry(string path, string name, JsonElement e, long dataStart, long dataLength)
    {
        string where = $"{path}: tensor '{name}'";
        if (e.ValueKind != JsonValueKind.Object
            || !e.TryGetProperty("dtype", out var dt) || dt.ValueKind != JsonValueKind.String
            || !e.TryGetProperty("shape", out var sh) || sh.ValueKind != JsonValueKind.Array
            || !e.TryGetProperty("data_offsets", out var off) || off.ValueKind != JsonValueKind.Array || off.GetArrayLength() != 2)
        {
            throw new ModelFormatException($"{where}: entry needs dtype, shape and data_offsets [begin, end]");
        }

        var dtype = SafetensorsDTypes.Parse(dt.GetString()!) ?? throw new ModelFormatException($"{where}: unsupported dtype '{dt.GetString()}'");
        var shape = new long[sh.GetArrayLength()];
        int i = 0;
        foreach (var d in sh.EnumerateArray())
        {
            if (d.ValueKind != JsonValueKind.Number || !d.TryGetInt64(out long v) || v < 0)
            {
                throw new ModelFormatException($"{where}: shape must hold non-negative integers, got {sh.GetRawText()}");
            }

            shape[i++] = v;
        }

        if (!off[0].TryGetInt64(out long begin) || !off[1].TryGetInt64(out long end) || begin < 0 || end < begin)
        {
            throw new ModelFormatException($"{where}: data_offsets {off.GetRawText()} must be integers with 0 <= begin <= end");
        }

        if (end > dataLength)
        {
            throw new ModelFormatException($"{where}: data_offsets [{begin}, {end}] run past the end of the data ({dataLength} bytes): truncated file or corrupt header");
        }

        long elements;
        try
        {
            elements = shape.Aggregate(1L, (a, b) => checked(a * b));
            long expected = checked(elements * dtype.Size());
            if (expected != end - begin)
            {
                throw new ModelFormatException(
                    $"{where}: {dtype} x [{string.Join(", ", shape)}] needs {expected} bytes but data_offsets span {end - begin}");
            }
        }
        catch (OverflowException)
        {
            throw new ModelFormatException($"{where}: shape [{string.Join(", ", shape)}] is too large");
        }

        return new SafetensorsEntry(name, dtype, shape, dataStart + begin, end - begin);
    }

    private static void CheckNoOverlap(string path, IEnumerable<SafetensorsEntry> entries)
    {
        SafetensorsEntry? previous = null;
        foreach (var e in entries.Where(e => e.Length > 0).OrderBy(e => e.Offset))
        {
            if (previous is not null && e.Offset < previous.Offset + previous.Length)
            {
                throw new ModelFormatException($"{path}: tensors '{previous.Name}' and '{e.Name}' overlap");
            }

            previous = e;
        }
    }

    public SafetensorsEntry Entry(string name) =>
        Entries.TryGetValue(name, out var e) ? e : throw new ModelFormatException($"{Path}: no tensor named '{name}'");

    /// <summary>Reads a tensor's raw bytes into <paramref name="destination"/> (exactly its length).</summary>
    public void ReadBytes(SafetensorsEntry entry, Span<byte> destination, long offsetInTensor = 0)
    {
        if (offsetInTensor < 0 || offsetInTensor + destination.Length > entry.Length)
        {
            throw new ArgumentOutOfRangeException(nameof(offsetInTensor));
        }

        long position = entry.Offset + offsetInTensor;
        while (destination.Length > 0)
        {
            int n = RandomAccess.Read(_handle, destination, position);
            if (n <= 0)
            {
                throw new ModelFormatException($"{Path}: unexpected end of file reading '{entry.Name}' (file changed after opening?)");
            }

            Interlocked.Add(ref _bytesRead, n);
            destination = destination[n..];
            position += n;
        }
    }

    /// <summary>Reads a tensor into a new CPU tensor of its stored dtype and shape.</summary>
    public Tensor ReadTensor(string name)
    {
        var entry = Entry(name);
        var t = torch.empty(entry.Shape, entry.DType.ToScalarType(), CPU);
        try
        {
            if (entry.Length > 0)
            {
                // Span lengths are int: fill the tensor through a flat view, in chunks of at most 1 GiB.
                using var flat = t.view(-1);
                long elementSize = entry.DType.Size();
                long chunkElements = (1L << 30) / elementSize;
                for (long start = 0; start < entry.ElementCount; start += chunkElements)
                {
                    long count = Math.Min(chunkElements, entry.ElementCount - start);
                    using var part = flat.narrow(0, start, count);
                    ReadBytes(entry, part.bytes, start * elementSize);
                }
            }

            return t;
        }
        catch
        {
            t.Dispose();
            throw;
        }
    }

    public void Dispose() => _handle.Dispose();
}
