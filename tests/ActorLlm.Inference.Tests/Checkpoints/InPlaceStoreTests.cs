using System.Security.Cryptography;
using ActorLlm.Inference.Checkpoints;
using ActorLlm.Inference.Devices;
using ActorLlm.Inference.Execution;
using ActorLlm.Protocol;
using Xunit;

namespace ActorLlm.Inference.Tests.Checkpoints;

/// <summary>
/// A Hugging Face directory served in place is, to anyone reading or pulling it, the store a conversion would have
/// written: the same manifest bytes, the same unit bytes, the same logits; but nothing is copied.
/// </summary>
public sealed class InPlaceStoreTests : IDisposable
{
    private readonly TempDir _dir = new();
    private readonly List<string> _log = [];

    /// <summary>Every unit read back through <see cref="UnitStore.ReadUnit"/> in pieces of an odd size, as a peer pulls it.</summary>
    private static byte[] Pulled(UnitStore store, int unit, int piece = 1531)
    {
        var bytes = new byte[store.Unit(unit).Bytes];
        for (long offset = 0; offset < bytes.Length; offset += piece)
        {
            store.ReadUnit(unit, offset, bytes.AsSpan((int)offset, (int)Math.Min(piece, bytes.Length - offset)));
        }

        return bytes;
    }

    [Theory]
    [MemberData(nameof(TestModels.All), MemberType = typeof(TestModels))]
    public void Units_served_in_place_are_byte_identical_to_a_conversion(string model)
    {
        string hf = TestModels.PathOf(model);
        var converted = UnitStoreWriter.Convert(hf, _dir["converted"]);
        using var store = UnitStore.OpenInPlace(hf, _dir["cache/m.manifest.json"], _log.Add);

        Assert.True(store.IsInPlace);
        Assert.Equal(converted.Manifest.ToJson(), store.Manifest.ToJson());
        for (int unit = 0; unit < store.UnitCount; unit++)
        {
            byte[] file = File.ReadAllBytes(Path.Combine(converted.Directory, store.Unit(unit).File));
            byte[] pulled = Pulled(store, unit);
            Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(file)), Convert.ToHexStringLower(SHA256.HashData(pulled)));
            Assert.Equal(file, pulled);
        }

        // Only the remembered manifest was written.
        Assert.Equal([_dir["cache/m.manifest.json"]], Directory.EnumerateFileSystemEntries(_dir["cache"]));
    }

    [Theory]
    [InlineData("llama3-tied")]
    [InlineData("llama-linear-bf16-sharded")]
    public void A_store_served_in_place_gives_the_logits_of_its_checkpoint(string model)
    {
        string hf = TestModels.PathOf(model);
        using var checkpoint = HfCheckpoint.Open(hf);
        using var store = UnitStore.OpenInPlace(hf, _dir["m.manifest.json"]);
        using var expected = StageExecutor.Load(checkpoint, UnitRange.Whole(checkpoint.Config.NumLayers), ComputeTarget.Cpu);

        // The store's end unit lists lm_head.weight; for the tied model it is read from the embedding's bytes.
        using var end = StageExecutor.Load(store, UnitRange.Whole(store.Config.NumLayers), ComputeTarget.Cpu);
        int[] ids = [1, 7, 42, 5];
        using var a = expected.Forward([new StageInput(SessionId.New(), 0, ids, AllLogits: true)])[0];
        using var b = end.Forward([new StageInput(SessionId.New(), 0, ids, AllLogits: true)])[0];
        Assert.Equal(0.0, TensorAssert.MaxAbsDiff(TensorAssert.Rows(a.Logits!), TensorAssert.Rows(b.Logits!)));
    }

    [Fact]
    public void The_manifest_is_computed_once_and_reused_and_a_damaged_one_is_computed_again()
    {
        string path = _dir["m.manifest.json"];
        UnitStore.OpenInPlace(TestModels.Stories260K, path, _log.Add).Dispose();
        Assert.Contains(_log, l => l.Contains("computing the sizes and sha256"));
        byte[] first = File.ReadAllBytes(path);

        _log.Clear();
        UnitStore.OpenInPlace(TestModels.Stories260K, path, _log.Add).Dispose();
        Assert.DoesNotContain(_log, l => l.Contains("computing"));

        File.WriteAllText(path, "{ not a manifest");
        _log.Clear();
        using var again = UnitStore.OpenInPlace(TestModels.Stories260K, path, _log.Add);
        Assert.Contains(_log, l => l.Contains("unreadable") && l.Contains("computing it again"));
        Assert.Equal(first, File.ReadAllBytes(path));
    }

    [Fact]
    public void A_checkpoint_behind_symbolic_links_is_served_like_the_files_themselves()
    {
        // As a Hugging Face cache lays it out: snapshot files are links into blobs/.
        string blobs = _dir["blobs"], snapshot = _dir["snapshot"];
        Directory.CreateDirectory(blobs);
        Directory.CreateDirectory(snapshot);
        foreach (string f in Directory.EnumerateFiles(TestModels.Stories260K))
        {
            string blob = Path.Combine(blobs, Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(f)))[..16]);
            File.Copy(f, blob, overwrite: true);
            File.CreateSymbolicLink(Path.Combine(snapshot, Path.GetFileName(f)), blob);
        }

        using var direct = UnitStore.OpenInPlace(TestModels.Stories260K, _dir["a.manifest.json"]);
        using var linked = UnitStore.OpenInPlace(snapshot, _dir["b.manifest.json"]);
        Assert.Equal(direct.Manifest.ToJson(), linked.Manifest.ToJson());
        Assert.Equal(Pulled(direct, 1), Pulled(linked, 1));
        Assert.Null(linked.Verify(1));
    }

    [Fact]
    public void A_checkpoint_file_changed_after_opening_fails_the_check_and_is_not_served()
    {
        string copy = _dir["model"];
        Directory.CreateDirectory(copy);
        foreach (string f in Directory.EnumerateFiles(TestModels.Stories260K))
        {
            File.Copy(f, Path.Combine(copy, Path.GetFileName(f)));
        }

        using var store = UnitStore.OpenInPlace(copy, _dir["m.manifest.json"]);
        Assert.Null(store.Verify(2));
        File.SetLastWriteTimeUtc(Path.Combine(copy, HfCheckpoint.SingleFile), DateTime.UtcNow.AddMinutes(5));

        Assert.Contains("changed since unit layer.1's sha256 was computed", store.Verify(2));
        var e = Assert.Throws<ModelFormatException>(() => store.ReadUnit(2, 0, new byte[16]));
        Assert.Contains("restart the node", e.Message);
        Assert.Throws<InvalidOperationException>(() => store.InstallUnit(2, _dir["x"]));
    }

    public void Dispose() => _dir.Dispose();
}
