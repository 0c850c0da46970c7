using System.Text.Json;
using ActorLlm.Inference.Checkpoints;
using ActorLlm.Protocol;
using Xunit;
using static TorchSharp.torch;

namespace ActorLlm.Inference.Tests.Checkpoints;

public sealed class ModelInfoTests : IDisposable
{
    private readonly TempDir _dir = new();

    /// <summary>Sum of element counts over a safetensors header, parsed here without the library's reader.</summary>
    private static long ElementsInHeader(string file)
    {
        byte[] raw = File.ReadAllBytes(file);
        long headerLength = BitConverter.ToInt64(raw, 0);
        using var doc = JsonDocument.Parse(raw.AsMemory(8, (int)headerLength));
        return doc.RootElement.EnumerateObject()
            .Where(p => p.Name != "__metadata__")
            .Sum(p => p.Value.GetProperty("shape").EnumerateArray().Aggregate(1L, (a, d) => a * d.GetInt64()));
    }

    [Fact]
    public void Stories260K_parameters_are_the_sum_of_its_tensors_from_checkpoint_and_store()
    {
        long expected = ElementsInHeader(Path.Combine(RepoPaths.Stories260K, "model.safetensors"));
        UnitStoreWriter.Convert(RepoPaths.Stories260K, _dir.Path);
        using var checkpoint = HfCheckpoint.Open(RepoPaths.Stories260K);
        using var store = UnitStore.Open(_dir.Path);

        var fromCheckpoint = ModelInfo.Of(checkpoint);
        var fromStore = ModelInfo.Of(store);

        Assert.Equal(expected, fromCheckpoint.Parameters);
        Assert.Equal(expected, fromStore.Parameters);   // the head copy in end.safetensors counts once
        Assert.True(fromStore.TiedHead);
        Assert.Equal(0, checkpoint.BytesRead + store.BytesRead);   // headers and manifest only
        Assert.Equal(fromCheckpoint.Units.Select(u => (u.Parameters, u.TensorBytes)), fromStore.Units.Select(u => (u.Parameters, u.TensorBytes)));
        Assert.Equal(store.Manifest.Units.Select(u => (long?)u.Bytes), fromStore.Units.Select(u => u.FileBytes));
        Assert.All(fromCheckpoint.Units, u => Assert.Null(u.FileBytes));
        Assert.Equal([SafetensorsDType.F32], fromStore.StoredDTypes);
    }

    [Fact]
    public void A_model_with_its_own_head_counts_both_matrices()
    {
        long expected = ElementsInHeader(Path.Combine(RepoPaths.HfLlamaTiny, "model.safetensors"));
        using var checkpoint = HfCheckpoint.Open(RepoPaths.HfLlamaTiny);
        var info = ModelInfo.Of(checkpoint);
        Assert.False(info.TiedHead);
        Assert.Equal(expected, info.Parameters);
        Assert.Equal(expected, info.Units.Sum(u => u.Parameters));
    }

    [Fact]
    public void A_partial_store_describes_units_it_lacks_from_the_manifest()
    {
        UnitStoreWriter.Convert(RepoPaths.Stories260K, _dir.Path);
        File.Delete(Path.Combine(_dir.Path, "layer.0.safetensors"));
        using var store = UnitStore.Open(_dir.Path);
        var info = ModelInfo.Of(store);
        Assert.Equal(ElementsInHeader(Path.Combine(RepoPaths.Stories260K, "model.safetensors")), info.Parameters);
        Assert.False(info.Units[1].Present);
        Assert.Contains("(absent)", info.ToText());
    }

    [Fact]
    public void Kv_cache_bytes_follow_two_x_layers_x_kv_heads_x_head_dim_x_dtype_bytes()
    {
        using var checkpoint = HfCheckpoint.Open(RepoPaths.Stories260K);
        var info = ModelInfo.Of(checkpoint);
        var c = info.Config;
        Assert.Equal((5, 4, 8), (c.NumLayers, c.NumKvHeads, c.HeadDim));

        Assert.Equal(2L * 5 * 4 * 8 * 4, info.KvBytesPerToken(ScalarType.Float32));
        Assert.Equal(2L * 5 * 4 * 8 * 2, info.KvBytesPerToken(ScalarType.BFloat16));
        Assert.Equal(c.KvBytesPerToken(2), info.KvBytesPerToken(ScalarType.Float16));
        Assert.Equal(2L * 2 * 4 * 8 * 4, info.KvBytesPerToken(ScalarType.Float32, new UnitRange(2, 4)));
        Assert.Equal(0, info.KvBytesPerToken(ScalarType.Float32, new UnitRange(0, 1)));

        var e = info.Estimate(ScalarType.BFloat16, context: 100, sessions: 3);
        Assert.Equal(640L * 100 * 3, e.KvBytes);
        Assert.Equal(info.Units.Sum(u => u.Parameters) * 2, e.WeightBytes);
        Assert.Equal(e.WeightBytes + e.KvBytes, e.TotalBytes);
        Assert.Equal(c.MaxPositionEmbeddings, info.Estimate(ScalarType.Float32).Context);

        var middle = info.Estimate(ScalarType.Float32, 10, range: new UnitRange(2, 4));
        Assert.Equal(info.Units[2].Parameters + info.Units[3].Parameters, middle.Parameters);
    }

    [Fact]
    public void The_text_summary_names_the_architecture_parameters_units_and_memory()
    {
        using var checkpoint = HfCheckpoint.Open(RepoPaths.Stories260K);
        var info = ModelInfo.Of(checkpoint);
        string text = info.ToText(ScalarType.BFloat16, context: 256);
        Assert.Contains("llama, 5 layers, hidden 64", text);
        Assert.Contains($"parameters: {info.Parameters:N0}", text);
        Assert.Contains("layer.4", text);
        Assert.Contains("end", text);
        Assert.Contains("memory at bf16", text);
        Assert.Contains("for 256 tokens", text);
    }

    public void Dispose() => _dir.Dispose();
}
