using ActorLlm.Inference.Checkpoints;
using Xunit;

namespace ActorLlm.Inference.Tests.Checkpoints;

/// <summary>
/// The check a stage makes before it loads a unit (<see cref="UnitStore.Verify"/>): a unit file damaged on disk is
/// found by its sha256 even when its size and header are intact, and a file found good is not hashed again while it
/// stays as it was.
/// </summary>
public sealed class UnitStoreVerifyTests : IDisposable
{
    private readonly TempDir _dir = new();
    private readonly UnitStore _store;

    public UnitStoreVerifyTests() => _store = TestModels.ConvertStories(_dir["store"]);

    public void Dispose()
    {
        _store.Dispose();
        _dir.Dispose();
    }

    [Fact]
    public void Four_bytes_overwritten_in_a_unit_are_found_by_its_sha256_and_the_removed_file_reads_as_missing()
    {
        Assert.All(Enumerable.Range(0, _store.UnitCount), u => Assert.Null(_store.Verify(u)));
        string path = _store.UnitPath(2);
        long size = new FileInfo(path).Length;

        TestModels.CorruptTensorData(path);
        Assert.Equal(size, new FileInfo(path).Length);
        string? problem = _store.Verify(2);
        Assert.NotNull(problem);
        Assert.Contains("sha256", problem);
        Assert.Contains(_store.Unit(2).Sha256, problem);
        Assert.Contains("corrupt", problem);

        // The other units are untouched, and the damaged one is gone once removed: a stage pulls it again.
        Assert.All(Enumerable.Range(0, _store.UnitCount).Where(u => u != 2), u => Assert.Null(_store.Verify(u)));
        _store.RemoveUnit(2);
        Assert.False(_store.HasUnit(2));
        Assert.False(File.Exists(path));
        Assert.Contains("not in this store", _store.Verify(2));
        _store.RemoveUnit(2);
    }

    [Fact]
    public void A_file_found_good_is_trusted_while_its_size_and_time_stay_but_every_new_process_and_any_write_hash_it_again()
    {
        string path = _store.UnitPath(3);
        Assert.Null(_store.Verify(3));
        var written = File.GetLastWriteTimeUtc(path);

        // Damage that leaves the size and the modification time as they were is trusted by the store that found
        // the file good (hashing every load is what it saves) ...
        TestModels.CorruptTensorData(path);
        File.SetLastWriteTimeUtc(path, written);
        Assert.Null(_store.Verify(3));

        // ... but not by a new process: a restarted worker hashes every unit it loads once.
        using (var restarted = UnitStore.Open(_store.Directory))
        {
            Assert.Contains("sha256", restarted.Verify(3));
        }

        // And a write, which moves the modification time, is hashed again at once.
        File.SetLastWriteTimeUtc(path, written.AddSeconds(1));
        Assert.Contains("sha256", _store.Verify(3));
    }

    [Fact]
    public void An_installed_unit_counts_as_verified_and_a_later_write_is_still_found()
    {
        using var copy = TestModels.EmptyCopy(_store, _dir["copy"]);
        string temp = _dir["pulled.tmp"];
        File.Copy(_store.UnitPath(1), temp);
        copy.InstallUnit(1, temp);
        Assert.Null(copy.Verify(1));

        TestModels.CorruptTensorData(copy.UnitPath(1));
        File.SetLastWriteTimeUtc(copy.UnitPath(1), DateTime.UtcNow.AddSeconds(5));
        Assert.Contains("sha256", copy.Verify(1));
    }
}
