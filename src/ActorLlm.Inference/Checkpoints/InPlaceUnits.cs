using System.Security.Cryptography;
using static TorchSharp.torch;

namespace ActorLlm.Inference.Checkpoints;

/// <summary>
/// The unit files a converted store would hold (<see cref="UnitStoreWriter.Convert"/> with the source's weights),
/// composed on request from a Hugging Face checkpoint's own files instead of written out: each unit is its
/// safetensors header, built by the same code and from the same plan as a conversion's, followed by its tensors'
/// bytes read by position from the checkpoint's shards. A peer pulling a unit gets the bytes a converted store
/// would send, and nothing is copied on this machine.
/// </summary>
internal sealed class InPlaceUnits : IDisposable
{
    private readonly HfCheckpoint _source;
    private readonly Layout[] _units;
    private readonly Dictionary<string, string> _sourceName = new(StringComparer.Ordinal);

    /// <summary>One unit file: the 8-byte header length and header, then each tensor's data in header order.</summary>
    private sealed record Layout(string Name, byte[] Head, (SafetensorsFile File, SafetensorsEntry Entry)[] Tensors, TensorInfo[] Infos, string[] SourceFiles)
    {
        public long Length { get; } = Head.Length + Tensors.Sum(t => t.Entry.Length);
    }

    private InPlaceUnits(HfCheckpoint source, Layout[] units)
    {
        _source = source;
        _units = units;
    }

    public HfCheckpoint Source => _source;

    public int Count => _units.Length;

    /// <summary>Lays out every unit of <paramref name="source"/> (reads headers only); takes ownership of it.</summary>
    public static InPlaceUnits Open(HfCheckpoint source)
    {
        try
        {
            var units = new List<Layout>();
            var sourceName = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var u in UnitStoreWriter.Plan(source))
            {
                var tensors = u.Tensors.Select(t => (File: source.FileFor(t.From), Entry: source.Entry(t.From), t.Stored)).ToArray();
                var pending = tensors.Select(t => PendingTensor.FromFile(t.File, t.Entry, t.Stored)).ToArray();
                byte[] header = SafetensorsWriter.Header(pending, UnitStoreWriter.UnitMetadata(u.Name, WeightFormat.Source));
                var head = new byte[8 + header.Length];
                BitConverter.TryWriteBytes(head, (ulong)header.Length);
                header.CopyTo(head, 8);
                foreach (var t in u.Tensors)
                {
                    sourceName[t.Stored] = t.From;
                }

                units.Add(new Layout(
                    u.Name,
                    head,
                    tensors.Select(t => (t.File, t.Entry)).ToArray(),
                    pending.Select(p => new TensorInfo(p.Name, p.DType, p.Shape)).ToArray(),
                    tensors.Select(t => t.File.Path).Distinct(StringComparer.Ordinal).ToArray()));
            }

            var result = new InPlaceUnits(source, units.ToArray());
            foreach (var (stored, from) in sourceName)
            {
                result._sourceName[stored] = from;
            }

            return result;
        }
        catch
        {
            source.Dispose();
            throw;
        }
    }

    public long Length(int unit) => _units[unit].Length;

    public IReadOnlyList<TensorInfo> Tensors(int unit) => _units[unit].Infos;

    /// <summary>The checkpoint files unit <paramref name="unit"/>'s tensors live in (symbolic links as given).</summary>
    public IReadOnlyList<string> SourceFiles(int unit) => _units[unit].SourceFiles;

    /// <summary>Bytes [offset, offset + destination.Length) of unit <paramref name="unit"/>'s file, as a converted store holds it.</summary>
    public void Read(int unit, long offset, Span<byte> destination)
    {
        var u = _units[unit];
        if (offset < 0 || offset + destination.Length > u.Length)
        {
            throw new ArgumentOutOfRangeException(nameof(offset), $"[{offset}, +{destination.Length}) is outside unit {u.Name}'s {u.Length} bytes");
        }

        if (offset < u.Head.Length)
        {
            int n = (int)Math.Min(destination.Length, u.Head.Length - offset);
            u.Head.AsSpan((int)offset, n).CopyTo(destination);
            destination = destination[n..];
            offset += n;
        }

        long position = u.Head.Length;
        foreach (var (file, entry) in u.Tensors)
        {
            if (destination.IsEmpty)
            {
                return;
            }

            long end = position + entry.Length;
            if (offset < end)
            {
                long inTensor = offset - position;
                int n = (int)Math.Min(destination.Length, entry.Length - inTensor);
                file.ReadBytes(entry, destination[..n], inTensor);
                destination = destination[n..];
                offset += n;
            }

            position = end;
        }
    }

    /// <summary>The size and sha256 of unit <paramref name="unit"/>'s composed file: reads all of its bytes once.</summary>
    public (long Bytes, string Sha256) Digest(int unit)
    {
        long length = Length(unit);
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = new byte[(int)Math.Clamp(length, 1, SafetensorsWriter.ChunkBytes)];
        for (long offset = 0; offset < length;)
        {
            int n = (int)Math.Min(buffer.Length, length - offset);
            Read(unit, offset, buffer.AsSpan(0, n));
            sha.AppendData(buffer, 0, n);
            offset += n;
        }

        return (length, Convert.ToHexStringLower(sha.GetHashAndReset()));
    }

    /// <summary>Loads a tensor by the name a unit file stores it under (the tied head: the embedding's bytes).</summary>
    public Tensor Load(string storedName) =>
        _source.Load(_sourceName.TryGetValue(storedName, out var from) ? from : storedName);

    public void Dispose() => _source.Dispose();
}
