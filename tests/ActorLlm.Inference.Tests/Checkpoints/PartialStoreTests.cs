using ActorLlm.Inference.Checkpoints;
using ActorLlm.Inference.Devices;
using ActorLlm.Inference.Execution;
using ActorLlm.Protocol;
using Xunit;

namespace ActorLlm.Inference.Tests.Checkpoints;

/// <summary>A worker with no model: creates a store from a peer's manifest, then installs the units it serves.</summary>
public sealed class PartialStoreTests : IDisposable
{
    private readonly TempDir _dir = new();
    private readonly UnitStore _peer;

    public PartialStoreTests()
    {
        UnitStoreWriter.Convert(RepoPaths.Stories260K, _dir["peer"]);
        _peer = UnitStore.Open(_dir["peer"]);
    }

    private string Worker => _dir["worker"];

    /// <summary>What a peer would send: the manifest as bytes, and the copied files' contents.</summary>
    private UnitStore CreateWorker()
    {
        var manifest = StoreManifest.Parse(_peer.Manifest.ToJson(), "from peer");
        var files = manifest.Files.ToDictionary(f => f.Name, f => File.ReadAllBytes(Path.Combine(_peer.Directory, f.Name)));
        return UnitStore.CreateEmpty(Worker, manifest, files);
    }

    /// <summary>A unit file as pulled from the peer into a temporary file outside the store.</summary>
    private string Pulled(int unit, string name = "pulled.tmp")
    {
        string temp = _dir[name];
        File.Copy(_peer.UnitPath(unit), temp, overwrite: true);
        return temp;
    }

    private string[] WorkerFiles() => Directory.GetFiles(Worker).Select(Path.GetFileName).Order().ToArray()!;

    [Fact]
    public void An_empty_store_from_a_manifest_holds_no_units_but_the_config_and_tokenizer()
    {
        using var worker = CreateWorker();
        Assert.Empty(worker.PresentUnits());
        Assert.False(worker.HasUnit(0));
        Assert.True(System.Text.Json.Nodes.JsonNode.DeepEquals(_peer.Config.Raw, worker.Config.Raw));
        Assert.Equal(_peer.Manifest.ToJson(), worker.Manifest.ToJson());
        foreach (var f in _peer.Manifest.Files)
        {
            Assert.Equal(File.ReadAllBytes(Path.Combine(_peer.Directory, f.Name)), File.ReadAllBytes(Path.Combine(Worker, f.Name)));
        }

        // config.json is rewritten from the manifest: a Hugging Face reader gets the same architecture.
        Assert.Equal(_peer.Config.NumLayers, Config.ModelConfig.Load(Worker).NumLayers);
    }

    [Fact]
    public void Installed_units_serve_a_range_exactly_like_the_peers()
    {
        using (var worker = CreateWorker())
        {
            worker.InstallUnit(2, Pulled(2));
            worker.InstallUnit(3, Pulled(3));
            Assert.Equal([2, 3], worker.PresentUnits());
            Assert.True(worker.VerifyUnit(2));
            Assert.False(File.Exists(_dir["pulled.tmp"]));
        }

        // Reopened later from disk, as a restarted worker would.
        using var reopened = Checkpoint.Open(Worker);
        using var stage = StageExecutor.Load(reopened, new UnitRange(2, 4), ComputeTarget.Cpu);
        using var reference = StageExecutor.Load(_peer, new UnitRange(2, 4), ComputeTarget.Cpu);
        int[] ids = [1, 2, 3];
        using var hidden = TorchSharp.torch.ones(ids.Length, _peer.Config.HiddenSize);
        using var a = stage.Forward([new StageInput(SessionId.New(), 0, ids, hidden)])[0];
        using var b = reference.Forward([new StageInput(SessionId.New(), 0, ids, hidden)])[0];
        Assert.Equal(0.0, TensorAssert.MaxAbsDiff(TensorAssert.Rows(b.Hidden!), TensorAssert.Rows(a.Hidden!)));
    }

    [Fact]
    public void Loading_a_unit_the_partial_store_lacks_names_the_unit()
    {
        using var worker = CreateWorker();
        worker.InstallUnit(2, Pulled(2));
        var e = Assert.Throws<ModelFormatException>(() => worker.Load("model.layers.3.mlp.up_proj.weight"));
        Assert.Contains("layer.3", e.Message);
        Assert.Contains("not in this store", e.Message);
        Assert.True(worker.Contains("model.layers.3.mlp.up_proj.weight"));
    }

    [Fact]
    public void A_file_with_the_wrong_content_is_not_installed_and_leaves_nothing_behind()
    {
        using var worker = CreateWorker();
        var before = WorkerFiles();

        // The right size but one flipped byte: only the sha256 can tell.
        string corrupt = Pulled(3);
        var bytes = File.ReadAllBytes(corrupt);
        bytes[^1] ^= 0x40;
        File.WriteAllBytes(corrupt, bytes);
        var e = Assert.Throws<ModelFormatException>(() => worker.InstallUnit(3, corrupt));
        Assert.Contains("sha256", e.Message);
        Assert.Contains("layer.2", e.Message);

        // Another unit's file: the size already differs.
        var wrongUnit = Assert.Throws<ModelFormatException>(() => worker.InstallUnit(1, Pulled(0)));
        Assert.Contains("bytes", wrongUnit.Message);

        Assert.False(worker.HasUnit(3));
        Assert.False(worker.HasUnit(1));
        Assert.Equal(before, WorkerFiles());
        Assert.Empty(Directory.GetFiles(Worker, ".*"));
        Assert.False(File.Exists(corrupt));
    }

    [Fact]
    public void Verify_detects_a_unit_file_corrupted_in_place()
    {
        using var worker = CreateWorker();
        worker.InstallUnit(4, Pulled(4));
        Assert.True(worker.VerifyUnit(4));
        worker.CheckUnit(4);

        using (var f = new FileStream(worker.UnitPath(4), FileMode.Open, FileAccess.ReadWrite))
        {
            f.Position = f.Length - 3;
            int b = f.ReadByte();
            f.Position = f.Length - 3;
            f.WriteByte((byte)(b ^ 1));
        }

        Assert.False(worker.VerifyUnit(4));
        var e = Assert.Throws<ModelFormatException>(() => worker.CheckUnit(4));
        Assert.Contains("sha256", e.Message);
        Assert.False(worker.VerifyUnit(5));   // absent
    }

    [Fact]
    public void A_truncated_unit_file_is_refused_on_load()
    {
        using var worker = CreateWorker();
        worker.InstallUnit(2, Pulled(2));
        using (var f = new FileStream(worker.UnitPath(2), FileMode.Open, FileAccess.ReadWrite))
        {
            f.SetLength(f.Length - 10);
        }

        var e = Assert.Throws<ModelFormatException>(() => worker.Load("model.layers.1.mlp.up_proj.weight"));
        Assert.Contains("incomplete", e.Message);
    }

    [Fact]
    public void Reinstalling_a_loaded_unit_replaces_it_for_later_loads()
    {
        using var worker = CreateWorker();
        worker.InstallUnit(2, Pulled(2));
        using (var before = worker.Load("model.layers.1.mlp.up_proj.weight"))
        {
            worker.InstallUnit(2, Pulled(2));
            using var after = worker.Load("model.layers.1.mlp.up_proj.weight");
            Assert.Equal(before.data<float>().ToArray(), after.data<float>().ToArray());
        }

        Assert.True(worker.BytesRead > 0);
    }

    [Fact]
    public void Creating_again_over_the_same_store_keeps_it_and_over_another_is_refused()
    {
        using (var worker = CreateWorker())
        {
            worker.InstallUnit(2, Pulled(2));
        }

        using (var again = CreateWorker())
        {
            Assert.Equal([2], again.PresentUnits());
        }

        string otherDir = _dir["other"];
        UnitStoreWriter.Convert(RepoPaths.HfLlamaTiny, otherDir);
        using var other = UnitStore.Open(otherDir);
        var e = Assert.Throws<ModelFormatException>(() => UnitStore.CreateEmpty(Worker, other.Manifest));
        Assert.Contains("different units", e.Message);
    }

    [Fact]
    public void Copied_files_that_do_not_match_the_manifest_are_refused()
    {
        var files = new Dictionary<string, byte[]> { ["tokenizer.json"] = "{}"u8.ToArray() };
        var e = Assert.Throws<ModelFormatException>(() => UnitStore.CreateEmpty(Worker, _peer.Manifest, files));
        Assert.Contains("tokenizer.json", e.Message);

        var unlisted = new Dictionary<string, byte[]> { ["tokenizer.model"] = [1, 2, 3] };
        Assert.Throws<ModelFormatException>(() => UnitStore.CreateEmpty(_dir["w2"], _peer.Manifest, unlisted));
    }

    public void Dispose()
    {
        _peer.Dispose();
        _dir.Dispose();
    }
}
