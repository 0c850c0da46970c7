using ActorLlm.Inference.Checkpoints;
using Xunit;

namespace ActorLlm.Inference.Tests.Checkpoints;

/// <summary>
/// ORG/NAME and models--ORG--NAME resolve in a Hugging Face cache laid out as huggingface_hub writes it (refs/main,
/// snapshots/REV of symbolic links into blobs/), with no download; what is missing names the paths looked at.
/// </summary>
public sealed class ModelLocationTests : IDisposable
{
    private const string Revision = "0123456789abcdef0123456789abcdef01234567";
    private readonly TempDir _dir = new();

    /// <summary>A hub cache under <paramref name="root"/> holding stories260K as org/stories at <see cref="Revision"/>.</summary>
    private string FakeCache(string root, bool withRefsMain = true, string revision = Revision)
    {
        string entry = Path.Combine(root, "models--org--stories");
        string snapshot = Directory.CreateDirectory(Path.Combine(entry, "snapshots", revision)).FullName;
        Directory.CreateDirectory(Path.Combine(entry, "blobs"));
        foreach (string f in Directory.EnumerateFiles(TestModels.Stories260K))
        {
            string blob = Path.Combine(entry, "blobs", Path.GetFileName(f) + ".blob");
            File.Copy(f, blob, overwrite: true);
            File.CreateSymbolicLink(Path.Combine(snapshot, Path.GetFileName(f)), Path.Combine("..", "..", "blobs", Path.GetFileName(f) + ".blob"));
        }

        if (withRefsMain)
        {
            Directory.CreateDirectory(Path.Combine(entry, "refs"));
            File.WriteAllText(Path.Combine(entry, "refs", "main"), revision);
        }

        return snapshot;
    }

    private static Func<string, string?> Env(params (string Name, string Value)[] vars) =>
        name => vars.FirstOrDefault(v => v.Name == name).Value;

    [Fact]
    public void Org_name_resolves_to_the_snapshot_refs_main_names_in_hf_hub_cache()
    {
        string snapshot = FakeCache(_dir["hub"]);
        FakeCache(_dir["hub"], withRefsMain: false, revision: "ffffffffffffffffffffffffffffffffffffffff");
        var env = Env(("HF_HUB_CACHE", _dir["hub"]), ("HOME", _dir["home"]));
        Assert.Equal(snapshot, ModelLocation.Resolve("org/stories", env));

        // Its files are links into blobs/, and load like any directory.
        Assert.NotNull(new FileInfo(Path.Combine(snapshot, "config.json")).LinkTarget);
        using var checkpoint = HfCheckpoint.Open(ModelLocation.Resolve("org/stories", env));
        Assert.Equal(5, checkpoint.Config.NumLayers);
    }

    [Fact]
    public void Hf_home_and_then_the_users_cache_are_looked_in()
    {
        string viaHome = FakeCache(Path.Combine(_dir["hfhome"], "hub"));
        Assert.Equal(viaHome, ModelLocation.Resolve("org/stories", Env(("HF_HOME", _dir["hfhome"]), ("HOME", _dir["home"]))));

        string viaUser = FakeCache(Path.Combine(_dir["home"], ".cache", "huggingface", "hub"));
        Assert.Equal(viaUser, ModelLocation.Resolve("org/stories", Env(("HOME", _dir["home"]))));
    }

    [Fact]
    public void Without_refs_main_the_only_snapshot_is_taken_and_an_entry_path_resolves_too()
    {
        string snapshot = FakeCache(_dir["hub"], withRefsMain: false);
        var env = Env(("HF_HUB_CACHE", _dir["hub"]), ("HOME", _dir["home"]));
        Assert.Equal(snapshot, ModelLocation.Resolve("org/stories", env));
        Assert.Equal(snapshot, ModelLocation.Resolve(Path.Combine(_dir["hub"], "models--org--stories"), env));

        // A plain directory is itself.
        Assert.Equal(TestModels.Stories260K, ModelLocation.Resolve(TestModels.Stories260K, env));
        Assert.Equal("stories", ModelLocation.DisplayName("org/stories"));
        Assert.Equal("stories", ModelLocation.DisplayName(snapshot));
        Assert.Equal("stories260K", ModelLocation.DisplayName(TestModels.Stories260K));
    }

    [Fact]
    public void A_model_not_in_the_cache_is_an_error_naming_every_path_looked_at()
    {
        var env = Env(("HF_HUB_CACHE", _dir["hub"]), ("HF_HOME", _dir["hfhome"]), ("HOME", _dir["home"]));
        var e = Assert.Throws<ModelFormatException>(() => ModelLocation.Resolve("meta-llama/Llama-3.2-1B", env));
        Assert.Contains("'meta-llama/Llama-3.2-1B' is neither a directory nor in the Hugging Face cache", e.Message);
        foreach (string root in new[] { _dir["hub"], Path.Combine(_dir["hfhome"], "hub"), Path.Combine(_dir["home"], ".cache", "huggingface", "hub") })
        {
            Assert.Contains(Path.Combine(root, "models--meta-llama--Llama-3.2-1B"), e.Message);
        }

        var missing = Assert.Throws<ModelFormatException>(() => ModelLocation.Resolve(_dir["nowhere/at/all"], env));
        Assert.Contains("does not exist", missing.Message);
    }

    [Fact]
    public void A_refs_main_naming_a_missing_snapshot_or_an_entry_without_snapshots_is_an_error()
    {
        FakeCache(_dir["hub"]);
        File.WriteAllText(Path.Combine(_dir["hub"], "models--org--stories", "refs", "main"), "deadbeef");
        var env = Env(("HF_HUB_CACHE", _dir["hub"]), ("HOME", _dir["home"]));
        var e = Assert.Throws<ModelFormatException>(() => ModelLocation.Resolve("org/stories", env));
        Assert.Contains("names revision 'deadbeef'", e.Message);

        Directory.CreateDirectory(Path.Combine(_dir["hub"], "models--org--empty", "snapshots"));
        var empty = Assert.Throws<ModelFormatException>(() => ModelLocation.Resolve("org/empty", env));
        Assert.Contains("has no snapshot", empty.Message);
    }

    public void Dispose() => _dir.Dispose();
}
