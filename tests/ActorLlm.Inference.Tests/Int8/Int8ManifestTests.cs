using System.Text.Json.Nodes;
using ActorLlm.Inference.Checkpoints;
using ActorLlm.Inference.Devices;
using ActorLlm.Inference.Execution;
using ActorLlm.Protocol;
using Xunit;

namespace ActorLlm.Inference.Tests.Int8;

/// <summary>
/// The manifest's <c>weights</c> field and the loader's checks: an int8 store is never read as floating point, a
/// manifest saying int8 over tensors that are not is refused, a manifest without the field is the old format.
/// </summary>
public sealed class Int8ManifestTests : IDisposable
{
    private readonly TempDir _dir = new();

    private string Int8Store()
    {
        UnitStoreWriter.Convert(TestModels.Stories260K, _dir["int8"], new ConvertOptions { Weights = WeightFormat.Int8AbsmaxPerChannel });
        return _dir["int8"];
    }

    private static string ManifestPath(string store) => Path.Combine(store, UnitStore.ManifestFile);

    private static void EditManifest(string store, Action<JsonObject> edit)
    {
        var json = JsonNode.Parse(File.ReadAllText(ManifestPath(store)))!.AsObject();
        edit(json);
        File.WriteAllText(ManifestPath(store), json.ToJsonString());
    }

    [Fact]
    public void A_manifest_without_the_field_is_the_source_format_and_a_source_store_writes_none()
    {
        using var store = TestModels.ConvertStories(_dir["source"]);
        byte[] bytes = File.ReadAllBytes(ManifestPath(_dir["source"]));
        Assert.DoesNotContain("\"weights\"", System.Text.Encoding.UTF8.GetString(bytes));
        Assert.Equal(WeightFormat.Source, store.Weights);
        Assert.Equal(bytes, StoreManifest.Parse(bytes, "m").ToJson());

        using var int8 = UnitStore.Open(Int8Store());
        Assert.Contains("\"weights\": \"int8-absmax-per-channel\"", System.Text.Encoding.UTF8.GetString(File.ReadAllBytes(ManifestPath(_dir["int8"]))));
        Assert.Equal(WeightFormat.Int8AbsmaxPerChannel, StoreManifest.Parse(int8.Manifest.ToJson(), "m").Weights);
    }

    [Fact]
    public void An_int8_store_whose_manifest_lost_the_field_is_refused_not_read_as_floats()
    {
        string store = Int8Store();
        EditManifest(store, m => m.Remove("weights"));
        var e = Assert.Throws<ModelFormatException>(() => Checkpoint.Open(store));
        Assert.Contains("is I8, but the manifest says weights are 'source': refusing to read quantized data as plain numbers", e.Message);
    }

    [Fact]
    public void A_manifest_that_says_int8_over_float_tensors_is_refused()
    {
        using (TestModels.ConvertStories(_dir["source"]))
        {
        }

        EditManifest(_dir["source"], m => m["weights"] = "int8-absmax-per-channel");
        var e = Assert.Throws<ModelFormatException>(() => UnitStore.Open(_dir["source"]));
        Assert.Contains("the manifest says weights are 'int8-absmax-per-channel', but tensor 'model.layers.0.self_attn.q_proj.weight' is F32 [64, 64], not I8", e.Message);
    }

    [Fact]
    public void A_scale_of_the_wrong_dtype_or_an_unknown_format_is_refused()
    {
        string store = Int8Store();
        EditManifest(store, m =>
        {
            var tensors = m["units"]![1]!["tensors"]!.AsArray();
            var scale = tensors.First(t => (string)t!["name"]! == "model.layers.0.mlp.down_proj.weight_scale")!;
            scale["dtype"] = "BF16";
        });
        Assert.Contains("needs its scale 'model.layers.0.mlp.down_proj.weight_scale' as F32 [64], but it is BF16 [64]",
            Assert.Throws<ModelFormatException>(() => UnitStore.Open(store)).Message);

        EditManifest(store, m => m["weights"] = "int4-groupwise");
        Assert.Contains("not a valid unit store manifest", Assert.Throws<ModelFormatException>(() => UnitStore.Open(store)).Message);
    }

    [Fact]
    public void A_unit_file_that_holds_floats_where_the_int8_manifest_lists_int8_is_refused_on_load()
    {
        // The worst case: the file's size and sha256 are made to match (a hand-edited manifest), so only the tensor
        // headers tell; the stage refuses the file instead of reading its floats.
        using (TestModels.ConvertStories(_dir["source"]))
        {
        }

        string store = Int8Store();
        string layer = Path.Combine(store, "layer.0.safetensors");
        File.Copy(Path.Combine(_dir["source"], "layer.0.safetensors"), layer, overwrite: true);
        var (bytes, sha) = FileDigest.Of(layer);
        EditManifest(store, m =>
        {
            m["units"]![1]!["bytes"] = bytes;
            m["units"]![1]!["sha256"] = sha;
        });

        using var source = UnitStore.Open(store);
        var e = Assert.Throws<ModelFormatException>(() => StageExecutor.Load(source, new UnitRange(0, 3), ComputeTarget.Cpu));
        Assert.Contains("is missing or differs from the manifest (I8 [64, 64])", e.Message);
    }

    [Fact]
    public void A_checkpoint_with_an_int8_tensor_and_no_manifest_is_refused_by_the_loader()
    {
        // A Hugging Face directory has no format field: an integer weight there cannot be dequantized, so it is refused.
        string dir = _dir.Sub("hf-int8");
        foreach (var f in new[] { "config.json", "tokenizer.json" })
        {
            File.Copy(Path.Combine(TestModels.Stories260K, f), Path.Combine(dir, f));
        }

        using var hf = HfCheckpoint.Open(TestModels.Stories260K);
        var held = new List<TorchSharp.torch.Tensor>();
        try
        {
            var pending = hf.TensorNames.Order(StringComparer.Ordinal).Select(name =>
            {
                var t = hf.Load(name);
                if (name == "model.layers.1.mlp.up_proj.weight")
                {
                    var (q, s) = Int8Quantization.Quantize(t);
                    s.Dispose();
                    t.Dispose();
                    t = q;
                }

                held.Add(t);
                return PendingTensor.FromTensor(name, t);
            }).ToArray();
            SafetensorsWriter.WriteFile(Path.Combine(dir, HfCheckpoint.SingleFile), pending);
        }
        finally
        {
            held.ForEach(t => t.Dispose());
        }

        using var source = Checkpoint.Open(dir);
        Assert.Equal(WeightFormat.Source, source.Weights);
        var e = Assert.Throws<ModelFormatException>(() => StageExecutor.Load(source, UnitRange.Whole(5), ComputeTarget.Cpu));
        Assert.Contains("tensor 'model.layers.1.mlp.up_proj.weight' is Int8, not floating point", e.Message);
        foreach (var weights in new[] { WeightFormat.Source, WeightFormat.Int8AbsmaxPerChannel })
        {
            var refused = Assert.Throws<ModelFormatException>(() => UnitStoreWriter.Convert(dir, _dir["store"], new ConvertOptions { Weights = weights }));
            Assert.Contains("is I8: convert reads floating-point checkpoints", refused.Message);
        }
    }

    public void Dispose() => _dir.Dispose();
}
