using System.Text;
using System.Text.Json.Nodes;
using ActorLlm.Inference.Checkpoints;
using ActorLlm.Inference.Devices;
using ActorLlm.Inference.Execution;
using ActorLlm.Protocol;
using Xunit;

namespace ActorLlm.Inference.Tests.Checkpoints;

/// <summary>
/// Every way a model directory can be unusable ends in a <see cref="ModelFormatException"/> naming the file and
/// the problem: never a crash, an index error, or a half-loaded model.
/// </summary>
public sealed class BadCheckpointTests : IDisposable
{
    private readonly TempDir _dir = new();

    /// <summary>A model directory with hf-llama-tiny's config.json and the given model.safetensors bytes.</summary>
    private string ModelDir(byte[] weights)
    {
        string dir = _dir.Sub("model");
        File.Copy(Path.Combine(RepoPaths.HfLlamaTiny, "config.json"), Path.Combine(dir, "config.json"));
        File.WriteAllBytes(Path.Combine(dir, HfCheckpoint.SingleFile), weights);
        return dir;
    }

    /// <summary>A safetensors file from a literal header, <paramref name="dataBytes"/> zero bytes of data, and optionally a lying header length.</summary>
    private static byte[] Raw(string header, int dataBytes, ulong? declaredHeaderLength = null)
    {
        byte[] json = Encoding.UTF8.GetBytes(header);
        var bytes = new byte[8 + json.Length + dataBytes];
        BitConverter.TryWriteBytes(bytes.AsSpan(0, 8), declaredHeaderLength ?? (ulong)json.Length);
        json.CopyTo(bytes, 8);
        return bytes;
    }

    private static ModelFormatException Fails(string dir, params string[] phrases)
    {
        var e = Assert.Throws<ModelFormatException>(() =>
        {
            using var source = Checkpoint.Open(dir);
            using var stage = StageExecutor.Load(source, UnitRange.Whole(source.Config.NumLayers), ComputeTarget.Cpu);
        });
        foreach (string phrase in phrases)
        {
            Assert.Contains(phrase, e.Message);
        }

        return e;
    }

    [Fact]
    public void Missing_directory() => Fails(_dir["absent"], "does not exist");

    [Fact]
    public void Missing_config_json()
    {
        string dir = _dir.Sub("noconfig");
        File.Copy(Path.Combine(RepoPaths.HfLlamaTiny, "model.safetensors"), Path.Combine(dir, "model.safetensors"));
        Fails(dir, "config.json");
    }

    [Fact]
    public void Missing_weights()
    {
        string dir = _dir.Sub("noweights");
        File.Copy(Path.Combine(RepoPaths.HfLlamaTiny, "config.json"), Path.Combine(dir, "config.json"));
        Fails(dir, "model.safetensors", "model.safetensors.index.json");
    }

    [Fact]
    public void Unsupported_model_type()
    {
        string dir = _dir.Sub("gpt2");
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(RepoPaths.HfLlamaTiny, "config.json")))!.AsObject();
        config["model_type"] = "gpt2";
        File.WriteAllText(Path.Combine(dir, "config.json"), config.ToJsonString());
        File.Copy(Path.Combine(RepoPaths.HfLlamaTiny, "model.safetensors"), Path.Combine(dir, "model.safetensors"));
        Fails(dir, "gpt2", "unsupported model_type");
    }

    [Fact]
    public void File_shorter_than_the_header_length_field() => Fails(ModelDir([1, 2, 3, 4, 5]), "truncated", "5 bytes");

    [Fact]
    public void Header_length_larger_than_the_file() =>
        Fails(ModelDir(Raw("{}", 0, declaredHeaderLength: 1000)), "header length 1000", "larger than the file");

    [Fact]
    public void Header_not_json() => Fails(ModelDir(Raw("this is not json", 16)), "not valid JSON");

    [Fact]
    public void Header_not_an_object() => Fails(ModelDir(Raw("[1, 2]", 0)), "JSON object");

    [Fact]
    public void Data_shorter_than_the_offsets_say()
    {
        string header = """{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}""";
        Fails(ModelDir(Raw(header, 12)), "'a'", "run past the end");
    }

    [Fact]
    public void Offsets_out_of_order() =>
        Fails(ModelDir(Raw("""{"a":{"dtype":"F32","shape":[1],"data_offsets":[8,4]}}""", 16)), "'a'", "begin <= end");

    [Fact]
    public void Negative_offsets() =>
        Fails(ModelDir(Raw("""{"a":{"dtype":"F32","shape":[1],"data_offsets":[-4,0]}}""", 16)), "'a'", "data_offsets");

    [Fact]
    public void Overlapping_tensors()
    {
        string header = """{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"b":{"dtype":"F32","shape":[4],"data_offsets":[8,24]}}""";
        Fails(ModelDir(Raw(header, 24)), "overlap");
    }

    [Fact]
    public void Byte_length_not_matching_dtype_and_shape() =>
        Fails(ModelDir(Raw("""{"a":{"dtype":"F16","shape":[2,3],"data_offsets":[0,8]}}""", 8)), "'a'", "needs 12 bytes", "span 8");

    [Fact]
    public void Unsupported_dtype() =>
        Fails(ModelDir(Raw("""{"a":{"dtype":"F8_E4M3","shape":[4],"data_offsets":[0,4]}}""", 4)), "unsupported dtype 'F8_E4M3'");

    [Fact]
    public void Entry_without_data_offsets() =>
        Fails(ModelDir(Raw("""{"a":{"dtype":"F32","shape":[4]}}""", 16)), "data_offsets");

    [Fact]
    public void Sharded_index_naming_a_missing_shard()
    {
        string source = Path.Combine(RepoPaths.FixturesDir, "llama-linear-bf16-sharded");
        string dir = _dir.Sub("sharded");
        foreach (string f in Directory.GetFiles(source).Where(f => !f.EndsWith("00003-of-00005.safetensors", StringComparison.Ordinal)))
        {
            File.Copy(f, Path.Combine(dir, Path.GetFileName(f)));
        }

        Fails(dir, "model-00003-of-00005.safetensors", "missing");
    }

    [Fact]
    public void A_tensor_the_config_needs_is_absent()
    {
        using var source = SafetensorsFile.Open(Path.Combine(RepoPaths.HfLlamaTiny, "model.safetensors"));
        string dir = _dir.Sub("nolayer3");
        File.Copy(Path.Combine(RepoPaths.HfLlamaTiny, "config.json"), Path.Combine(dir, "config.json"));
        SafetensorsWriter.WriteFile(Path.Combine(dir, "model.safetensors"),
            source.Entries.Values.Where(e => !e.Name.StartsWith("model.layers.3.", StringComparison.Ordinal)).Select(e => PendingTensor.FromFile(source, e)).ToArray());

        Fails(dir, "missing tensor", "model.layers.3.");
        var e = Assert.Throws<ModelFormatException>(() => UnitStoreWriter.Convert(dir, _dir["store"]));
        Assert.Contains("layer.3", e.Message);
        Assert.False(Directory.Exists(_dir["store"]));
    }

    [Fact]
    public void A_tensor_with_the_wrong_shape_for_the_config()
    {
        // k_proj stored transposed: [hidden, kv_heads x head_dim] instead of [kv_heads x head_dim, hidden].
        const string name = "model.layers.1.self_attn.k_proj.weight";
        using var source = SafetensorsFile.Open(Path.Combine(RepoPaths.HfLlamaTiny, "model.safetensors"));
        using var original = source.ReadTensor(name);
        using var transposed = original.t().contiguous();
        string dir = _dir.Sub("transposed");
        File.Copy(Path.Combine(RepoPaths.HfLlamaTiny, "config.json"), Path.Combine(dir, "config.json"));
        SafetensorsWriter.WriteFile(Path.Combine(dir, "model.safetensors"),
            source.Entries.Values.Select(e => e.Name == name ? PendingTensor.FromTensor(name, transposed) : PendingTensor.FromFile(source, e)).ToArray());

        Fails(dir, name, "shape [64, 32]", "expected [32, 64]");
        var e = Assert.Throws<ModelFormatException>(() => UnitStoreWriter.Convert(dir, _dir["store"]));
        Assert.Contains(name, e.Message);
    }

    [Fact]
    public void A_store_manifest_that_is_not_json_or_not_ours()
    {
        string dir = _dir.Sub("store");
        File.WriteAllText(Path.Combine(dir, UnitStore.ManifestFile), "{ not json");
        Fails(dir, "manifest.json", "not a valid unit store manifest");

        File.WriteAllText(Path.Combine(dir, UnitStore.ManifestFile), """{"hello": 1}""");
        Fails(dir, "manifest.json");
    }

    [Fact]
    public void A_store_manifest_of_an_unknown_version_or_with_unsafe_file_names()
    {
        UnitStoreWriter.Convert(RepoPaths.HfLlamaTiny, _dir["store"]);
        string path = Path.Combine(_dir["store"], UnitStore.ManifestFile);
        var manifest = StoreManifest.Parse(File.ReadAllBytes(path), path);

        File.WriteAllBytes(path, (manifest with { Version = 99 }).ToJson());
        Fails(_dir["store"], "version 99");

        var units = manifest.Units.ToArray();
        units[1] = units[1] with { File = "../elsewhere.safetensors" };
        File.WriteAllBytes(path, (manifest with { Units = units }).ToJson());
        Fails(_dir["store"], "../elsewhere.safetensors");

        File.WriteAllBytes(path, (manifest with { Units = manifest.Units.Take(3).ToArray() }).ToJson());
        Fails(_dir["store"], "3 units listed");
    }

    public void Dispose() => _dir.Dispose();
}
