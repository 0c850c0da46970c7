using ActorLlm.Inference.Checkpoints;
using ActorLlm.Inference.Devices;
using ActorLlm.Inference.Execution;
using ActorLlm.Protocol;
using Xunit;
using static TorchSharp.torch;

namespace ActorLlm.Inference.Tests.Checkpoints;

public sealed class UnitStoreConversionTests : IDisposable
{
    private readonly TempDir _dir = new();

    private static float[][] AllLogits(IWeightSource source)
    {
        using var stage = StageExecutor.Load(source, UnitRange.Whole(source.Config.NumLayers), ComputeTarget.Cpu);
        int vocab = source.Config.VocabSize;
        int[] ids = [1, 7, 42 % vocab, 300 % vocab, 5, 99 % vocab, 2, 511 % vocab];
        using var output = stage.Forward([new StageInput(SessionId.New(), 0, ids, AllLogits: true)])[0];
        return TensorAssert.Rows(output.Logits!);
    }

    [Theory]
    [MemberData(nameof(TestModels.All), MemberType = typeof(TestModels))]
    public void A_store_gives_bit_identical_logits_to_its_checkpoint(string model)
    {
        string hf = TestModels.PathOf(model);
        UnitStoreWriter.Convert(hf, _dir.Path);

        using var checkpoint = HfCheckpoint.Open(hf);
        using var store = Checkpoint.Open(_dir.Path);
        Assert.IsType<UnitStore>(store);
        var expected = AllLogits(checkpoint);
        var actual = AllLogits(store);
        Assert.Equal(0.0, TensorAssert.MaxAbsDiff(expected, actual));
    }

    [Theory]
    [MemberData(nameof(TestModels.All), MemberType = typeof(TestModels))]
    public void Each_unit_file_holds_exactly_its_tensors_with_the_manifest_checksum(string model)
    {
        string hf = TestModels.PathOf(model);
        var result = UnitStoreWriter.Convert(hf, _dir.Path);
        using var checkpoint = HfCheckpoint.Open(hf);
        using var store = UnitStore.Open(_dir.Path);
        var config = store.Config;

        Assert.Equal(config.UnitCount, result.Units);
        Assert.Equal(result.Manifest.ToJson(), store.Manifest.ToJson());
        Assert.Equal(result.Bytes, store.Manifest.Units.Sum(u => new FileInfo(Path.Combine(_dir.Path, u.File)).Length));
        for (int unit = 0; unit < config.UnitCount; unit++)
        {
            var entry = store.Unit(unit);
            Assert.Equal(UnitRange.UnitName(unit, config.NumLayers) + ".safetensors", entry.File);
            Assert.Equal((entry.Bytes, entry.Sha256), FileDigest.Of(store.UnitPath(unit)));
            Assert.True(store.VerifyUnit(unit));

            var expectedNames = UnitTensors.Required(config, unit, checkpoint.Contains)
                .Select(n => unit == config.NumLayers + 1 && n == UnitTensors.Embedding ? UnitTensors.LmHead : n);
            using var file = SafetensorsFile.Open(store.UnitPath(unit));
            Assert.Equal(expectedNames.Order(), file.Entries.Keys.Order());
            Assert.Equal(expectedNames.Order(), entry.Tensors.Select(t => t.Name).Order());
            Assert.Equal(entry.Name, file.Metadata["actorllm.unit"]);
        }

        Assert.Equal(checkpoint.TensorNames.Select(checkpoint.Describe).Select(t => t.DType).Distinct().Order(), store.Manifest.DTypes);
    }

    [Theory]
    [MemberData(nameof(TestModels.All), MemberType = typeof(TestModels))]
    public void Config_and_tokenizer_files_are_copied_verbatim(string model)
    {
        string hf = TestModels.PathOf(model);
        var result = UnitStoreWriter.Convert(hf, _dir.Path);
        var expected = StoreManifest.CopiedFileNames.Prepend("config.json").Where(n => File.Exists(Path.Combine(hf, n))).ToArray();

        Assert.Equal(expected, result.CopiedFiles);
        Assert.Contains("config.json", expected);
        foreach (string name in expected)
        {
            Assert.Equal(File.ReadAllBytes(Path.Combine(hf, name)), File.ReadAllBytes(_dir[name]));
        }

        Assert.Equal(expected.Where(n => n != "config.json"), result.Manifest.Files.Select(f => f.Name));
        foreach (var f in result.Manifest.Files)
        {
            Assert.Equal((f.Bytes, f.Sha256), FileDigest.Of(_dir[f.Name]));
        }
    }

    [Fact]
    public void Stories260K_copies_its_tokenizer()
    {
        var result = UnitStoreWriter.Convert(RepoPaths.Stories260K, _dir.Path);
        Assert.Contains("tokenizer.json", result.CopiedFiles);
        Assert.Contains("tokenizer_config.json", result.CopiedFiles);
        Assert.Contains("special_tokens_map.json", result.CopiedFiles);
    }

    [Fact]
    public void A_tied_model_stores_its_embedding_as_the_end_units_lm_head()
    {
        var result = UnitStoreWriter.Convert(RepoPaths.Stories260K, _dir.Path);
        Assert.True(result.Manifest.TiedHead);
        using var begin = SafetensorsFile.Open(_dir["begin.safetensors"]);
        using var end = SafetensorsFile.Open(_dir["end.safetensors"]);
        Assert.Equal([UnitTensors.Embedding], begin.Entries.Keys);
        Assert.Equal([UnitTensors.LmHead, UnitTensors.FinalNorm], end.Entries.Keys.Order(StringComparer.Ordinal));
        using var embedding = begin.ReadTensor(UnitTensors.Embedding);
        using var head = end.ReadTensor(UnitTensors.LmHead);
        Assert.Equal(embedding.data<float>().ToArray(), head.data<float>().ToArray());

        // The end unit alone is enough for a stage serving only the end.
        foreach (var other in Directory.GetFiles(_dir.Path, "*.safetensors").Where(f => !f.EndsWith("end.safetensors", StringComparison.Ordinal)))
        {
            File.Delete(other);
        }

        using var store = UnitStore.Open(_dir.Path);
        int layers = store.Config.NumLayers;
        using var stage = StageExecutor.Load(store, new UnitRange(layers + 1, layers + 2), ComputeTarget.Cpu);
        Assert.True(stage.HasEnd);
    }

    [Fact]
    public void A_model_with_its_own_head_is_not_marked_tied()
    {
        var result = UnitStoreWriter.Convert(RepoPaths.HfLlamaTiny, _dir.Path);
        Assert.False(result.Manifest.TiedHead);
    }

    [Fact]
    public void Tensors_no_unit_uses_are_skipped_and_reported()
    {
        string hf = _dir.Sub("hf");
        File.Copy(Path.Combine(RepoPaths.HfLlamaTiny, "config.json"), Path.Combine(hf, "config.json"));
        using (var source = SafetensorsFile.Open(Path.Combine(RepoPaths.HfLlamaTiny, "model.safetensors")))
        using (var invFreq = arange(8, ScalarType.Float32))
        {
            var tensors = source.Entries.Values.Select(e => PendingTensor.FromFile(source, e))
                .Append(PendingTensor.FromTensor("model.layers.0.self_attn.rotary_emb.inv_freq", invFreq))
                .Append(PendingTensor.FromTensor("model.rotary_emb.inv_freq", invFreq))
                .ToArray();
            SafetensorsWriter.WriteFile(Path.Combine(hf, "model.safetensors"), tensors);
        }

        var result = UnitStoreWriter.Convert(hf, _dir["store"]);

        Assert.Equal(["model.layers.0.self_attn.rotary_emb.inv_freq", "model.rotary_emb.inv_freq"], result.SkippedTensors);
        using var store = UnitStore.Open(_dir["store"]);
        Assert.DoesNotContain(store.TensorNames, n => n.Contains("inv_freq", StringComparison.Ordinal));
    }

    [Fact]
    public void Converting_again_into_a_store_of_the_same_model_rewrites_it_and_reports_progress()
    {
        UnitStoreWriter.Convert(RepoPaths.HfLlamaTiny, _dir.Path);
        var progress = new List<ConvertProgress>();
        var result = UnitStoreWriter.Convert(RepoPaths.HfLlamaTiny, _dir.Path, new ConvertOptions { Progress = progress.Add });

        Assert.Equal(Enumerable.Range(0, result.Units), progress.Select(p => p.Unit));
        Assert.Equal(Enumerable.Range(1, result.Units), progress.Select(p => p.UnitsDone));
        Assert.Equal(progress[^1].TotalTensorBytes, progress[^1].BytesWritten);
        Assert.True(result.Elapsed > TimeSpan.Zero);
    }

    [Fact]
    public void A_non_empty_directory_that_is_not_a_store_is_refused_unless_overwriting()
    {
        File.WriteAllText(_dir["notes.txt"], "mine");
        var e = Assert.Throws<ModelFormatException>(() => UnitStoreWriter.Convert(RepoPaths.HfLlamaTiny, _dir.Path));
        Assert.Contains("not empty", e.Message);
        Assert.False(File.Exists(_dir["begin.safetensors"]));

        UnitStoreWriter.Convert(RepoPaths.HfLlamaTiny, _dir.Path, new ConvertOptions { Overwrite = true });
        Assert.True(UnitStore.IsStore(_dir.Path));
        Assert.True(File.Exists(_dir["notes.txt"]));
    }

    [Fact]
    public void A_store_of_another_model_is_refused_unless_overwriting_and_then_its_extra_units_are_removed()
    {
        UnitStoreWriter.Convert(RepoPaths.HfLlamaTiny, _dir.Path);   // 4 layers
        string other = Path.Combine(RepoPaths.FixturesDir, "llama3-tied");   // 3 layers
        var e = Assert.Throws<ModelFormatException>(() => UnitStoreWriter.Convert(other, _dir.Path));
        Assert.Contains("different model", e.Message);
        Assert.True(File.Exists(_dir["layer.3.safetensors"]));

        UnitStoreWriter.Convert(other, _dir.Path, new ConvertOptions { Overwrite = true });
        Assert.False(File.Exists(_dir["layer.3.safetensors"]));
        using var store = UnitStore.Open(_dir.Path);
        Assert.Equal(3, store.Config.NumLayers);
        Assert.All(Enumerable.Range(0, store.UnitCount), u => Assert.True(store.VerifyUnit(u)));
    }

    [Fact]
    public void Converting_a_store_or_into_the_checkpoint_itself_is_refused()
    {
        UnitStoreWriter.Convert(RepoPaths.HfLlamaTiny, _dir.Path);
        Assert.Throws<ModelFormatException>(() => UnitStoreWriter.Convert(_dir.Path, _dir["again"]));
        Assert.Throws<InvalidRequestException>(() => UnitStoreWriter.Convert(RepoPaths.HfLlamaTiny, RepoPaths.HfLlamaTiny + "/"));
    }

    public void Dispose() => _dir.Dispose();
}
