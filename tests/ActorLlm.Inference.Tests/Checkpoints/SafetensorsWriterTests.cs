using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using ActorLlm.Inference.Checkpoints;
using Xunit;
using static TorchSharp.torch;

namespace ActorLlm.Inference.Tests.Checkpoints;

public sealed class SafetensorsWriterTests : IDisposable
{
    private readonly TempDir _dir = new();

    public static TheoryData<string> DTypes => ["F32", "F16", "BF16"];

    private static byte[] BytesOf(Tensor t)
    {
        using var c = t.contiguous();
        return c.bytes.ToArray();
    }

    [Theory]
    [MemberData(nameof(DTypes))]
    public void A_written_file_reads_back_with_the_same_dtype_shape_bytes_and_metadata(string dtype)
    {
        var scalar = SafetensorsDTypes.Parse(dtype)!.Value.ToScalarType();
        using var matrix = randn([3, 5], scalar);
        using var vector = randn([7], scalar);
        using var scalarTensor = full([], 2.5, scalar);
        var metadata = new Dictionary<string, string> { ["format"] = "pt", ["note"] = "round trip" };
        string path = _dir["t.safetensors"];

        var result = SafetensorsWriter.WriteFile(path, [PendingTensor.FromTensor("m", matrix), PendingTensor.FromTensor("v", vector), PendingTensor.FromTensor("s", scalarTensor)], metadata);

        Assert.Equal(new FileInfo(path).Length, result.Bytes);
        using var file = SafetensorsFile.Open(path);
        Assert.Equal(metadata, file.Metadata);
        foreach (var (name, expected) in new[] { ("m", matrix), ("v", vector), ("s", scalarTensor) })
        {
            Assert.Equal(dtype, file.Entry(name).DType.ToString());
            using var read = file.ReadTensor(name);
            Assert.Equal(expected.shape, read.shape);
            Assert.Equal(expected.dtype, read.dtype);
            Assert.Equal(BytesOf(expected), BytesOf(read));
        }
    }

    [Fact]
    public void The_header_is_padded_with_spaces_to_a_multiple_of_8_and_offsets_are_contiguous()
    {
        using var a = ones([3], ScalarType.Float32);
        using var b = ones([5], ScalarType.Float16);
        using var c = ones([2, 3], ScalarType.BFloat16);
        string path = _dir["pad.safetensors"];
        SafetensorsWriter.WriteFile(path, [PendingTensor.FromTensor("a", a), PendingTensor.FromTensor("bb", b), PendingTensor.FromTensor("ccc", c)]);

        byte[] raw = File.ReadAllBytes(path);
        long headerLength = BitConverter.ToInt64(raw, 0);
        Assert.Equal(0, headerLength % 8);
        string header = Encoding.UTF8.GetString(raw, 8, (int)headerLength);
        string json = header.TrimEnd(' ');
        Assert.EndsWith("}", json);
        Assert.InRange(header.Length - json.Length, 0, 7);

        using var doc = JsonDocument.Parse(header);
        long expectedBegin = 0;
        foreach (var t in doc.RootElement.EnumerateObject())
        {
            var offsets = t.Value.GetProperty("data_offsets").EnumerateArray().Select(x => x.GetInt64()).ToArray();
            Assert.Equal(expectedBegin, offsets[0]);
            expectedBegin = offsets[1];
        }

        Assert.Equal(12 + 10 + 12, expectedBegin);
        Assert.Equal(8 + headerLength + expectedBegin, raw.Length);
    }

    [Fact]
    public void The_reported_sha256_is_that_of_the_file()
    {
        using var t = arange(100, ScalarType.Float32);
        string path = _dir["h.safetensors"];
        var result = SafetensorsWriter.WriteFile(path, [PendingTensor.FromTensor("x", t)], new Dictionary<string, string> { ["format"] = "pt" });
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(path))), result.Sha256);
        Assert.Equal(FileDigest.Of(path), (result.Bytes, result.Sha256));
    }

    [Fact]
    public void Copying_entries_from_a_file_keeps_their_bytes_exactly()
    {
        using var source = SafetensorsFile.Open(Path.Combine(RepoPaths.Stories260K, "model.safetensors"));
        var entries = source.Entries.Values.Where(e => e.Name.StartsWith("model.layers.1.", StringComparison.Ordinal)).ToArray();
        string path = _dir["copy.safetensors"];
        SafetensorsWriter.WriteFile(path, entries.Select(e => PendingTensor.FromFile(source, e, "renamed." + e.Name)).ToArray());

        using var copy = SafetensorsFile.Open(path);
        Assert.Equal(entries.Length, copy.Entries.Count);
        foreach (var e in entries)
        {
            var c = copy.Entry("renamed." + e.Name);
            Assert.Equal(e.DType, c.DType);
            Assert.Equal(e.Shape, c.Shape);
            var expected = new byte[e.Length];
            var actual = new byte[c.Length];
            source.ReadBytes(e, expected);
            copy.ReadBytes(c, actual);
            Assert.Equal(expected, actual);
        }
    }

    [Fact]
    public void A_tensor_larger_than_the_copy_chunk_is_written_and_read_back_in_pieces()
    {
        // 5 MiB of float32: more than one 4 MiB write chunk.
        long n = (5L << 20) / 4;
        using var big = arange(n, ScalarType.Float32);
        string path = _dir["big.safetensors"];
        SafetensorsWriter.WriteFile(path, [PendingTensor.FromTensor("big", big)]);

        using var file = SafetensorsFile.Open(path);
        var entry = file.Entry("big");
        byte[] expected = BytesOf(big);
        var reassembled = new byte[entry.Length];
        const int piece = 333_333;   // not a multiple of the element size: reads may split elements
        for (long offset = 0; offset < entry.Length; offset += piece)
        {
            int count = (int)Math.Min(piece, entry.Length - offset);
            file.ReadBytes(entry, reassembled.AsSpan((int)offset, count), offset);
        }

        Assert.Equal(expected, reassembled);
        Assert.Equal(entry.Length, file.BytesRead);
        Assert.Throws<ArgumentOutOfRangeException>(() => file.ReadBytes(entry, new byte[8], entry.Length - 4));
    }

    [Fact]
    public void A_failed_write_leaves_no_file_behind()
    {
        var source = SafetensorsFile.Open(Path.Combine(RepoPaths.Stories260K, "model.safetensors"));
        var entry = source.Entry("model.norm.weight");
        source.Dispose();   // reading from it now fails mid-write
        string path = _dir["failed.safetensors"];

        Assert.ThrowsAny<Exception>(() => SafetensorsWriter.WriteFile(path, [PendingTensor.FromFile(source, entry)]));
        Assert.Empty(Directory.EnumerateFileSystemEntries(_dir.Path));
    }

    [Fact]
    public void Duplicate_or_reserved_names_and_non_contiguous_tensors_are_refused()
    {
        using var t = ones([2]);
        Assert.Throws<ArgumentException>(() => SafetensorsWriter.Header([PendingTensor.FromTensor("a", t), PendingTensor.FromTensor("a", t)]));
        Assert.Throws<ArgumentException>(() => SafetensorsWriter.Header([PendingTensor.FromTensor("__metadata__", t)]));
        Assert.Throws<ArgumentException>(() => PendingTensor.FromBytes("b", SafetensorsDType.F32, [3], new byte[8]));
        using var matrix = ones(2, 3);
        using var transposed = matrix.t();
        Assert.Throws<ArgumentException>(() => PendingTensor.FromTensor("t", transposed));
    }

    public void Dispose() => _dir.Dispose();
}
