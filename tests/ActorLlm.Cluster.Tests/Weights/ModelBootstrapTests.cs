using System.Text.Json.Nodes;
using ActorLlm.Cluster.Weights;
using ActorLlm.Inference;
using ActorLlm.Inference.Checkpoints;
using ActorLlm.Protocol;
using ActorLlm.Protocol.Serialization;
using Akka.Actor;
using Akka.TestKit.Xunit2;
using Xunit;

namespace ActorLlm.Cluster.Tests.Weights;

/// <summary>
/// A node gets its store from a local model directory (converted once, then reused) or, with no model, from the
/// first peer that offers a usable manifest; a model's identity names exactly its config and unit bytes.
/// </summary>
public sealed class ModelBootstrapTests : TestKit
{
    private readonly TempDir _dir = new();
    private readonly List<string> _log = [];

    public ModelBootstrapTests()
        : base(WeightsConfig.Local)
    {
    }

    [Fact]
    public void A_hugging_face_directory_is_served_in_place_with_its_manifest_remembered_and_no_weights_in_the_cache()
    {
        string cache = _dir["cache"];
        string remembered = ModelBootstrap.InPlaceManifestPath(TestModels.Stories260K, cache);
        Assert.StartsWith(Path.Combine(cache, "stories260K-"), remembered);
        DateTime written;
        using (var first = ModelBootstrap.PrepareLocalStore(TestModels.Stories260K, cache, _log.Add))
        {
            Assert.True(first.IsInPlace);
            Assert.Equal(TestModels.Stories260K, first.Directory);
            Assert.Equal(remembered, first.ManifestPath);
            Assert.Equal(Enumerable.Range(0, first.UnitCount), first.PresentUnits());
            Assert.Contains(_log, l => l.Contains("computing the sizes and sha256"));
            written = File.GetLastWriteTimeUtc(remembered);
        }

        // The cache holds the manifest and nothing else: no unit files, no copy of any weight.
        Assert.Equal([remembered], Directory.EnumerateFileSystemEntries(cache, "*", SearchOption.AllDirectories));
        Assert.True(new FileInfo(remembered).Length < 64 * 1024);

        _log.Clear();
        using (var second = ModelBootstrap.PrepareLocalStore(TestModels.Stories260K, cache, _log.Add))
        {
            Assert.Contains(_log, l => l.Contains("with the manifest remembered"));
            Assert.DoesNotContain(_log, l => l.Contains("computing"));
            Assert.Equal(written, File.GetLastWriteTimeUtc(remembered));
            Assert.Null(second.Verify(1));
        }
    }

    [Fact]
    public void Another_checkpoint_in_a_directory_of_the_same_name_gets_its_own_manifest()
    {
        string copy = Path.Combine(_dir["elsewhere"], "stories260K");
        Directory.CreateDirectory(copy);
        foreach (string f in Directory.EnumerateFiles(TestModels.Stories260K))
        {
            File.Copy(f, Path.Combine(copy, Path.GetFileName(f)));
        }

        string cache = _dir["cache"];
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(copy, "config.json")))!.AsObject();
        config["rms_norm_eps"] = 1e-6;
        File.WriteAllText(Path.Combine(copy, "config.json"), config.ToJsonString());
        Assert.NotEqual(ModelBootstrap.InPlaceManifestPath(TestModels.Stories260K, cache), ModelBootstrap.InPlaceManifestPath(copy, cache));

        // A side file rewritten (the tokenizer) changes it too: the manifest records its sha256.
        string before = ModelBootstrap.InPlaceManifestPath(copy, cache);
        File.AppendAllText(Path.Combine(copy, "tokenizer.json"), " ");
        Assert.NotEqual(before, ModelBootstrap.InPlaceManifestPath(copy, cache));
    }

    [Fact]
    public void A_unit_store_is_opened_where_it_is()
    {
        string storeDir = _dir["store"];
        TestModels.ConvertStories(storeDir).Dispose();

        using var store = ModelBootstrap.PrepareLocalStore(storeDir, _dir["cache"], _log.Add);
        Assert.Equal(storeDir, store.Directory);
        Assert.False(Directory.Exists(_dir["cache"]));
    }

    [Fact]
    public void A_missing_model_directory_is_a_clear_error()
    {
        var e = Assert.Throws<ModelFormatException>(() => ModelBootstrap.PrepareLocalStore(_dir["absent"], _dir["cache"]));
        Assert.Contains("does not exist", e.Message);
    }

    [Fact]
    public async Task A_node_without_a_model_creates_a_store_from_the_first_peer_with_a_usable_manifest()
    {
        using var source = TestModels.ConvertStories(_dir["source"]);
        ICanTell[] candidates =
        [
            Sys.ActorOf(FakeHolders.Silent()),
            Sys.ActorOf(UnitServer.Props(null, WireLimits.Default)),
            Sys.ActorOf(UnitServer.Props(source, WireLimits.Default), UnitServer.Name),
        ];

        // The silent candidate does not hold things up: the first usable reply is taken.
        string cache = _dir["cache"];
        using var store = await ModelBootstrap.CreateStoreFromPeersAsync(candidates, cache, TimeSpan.FromSeconds(30), ReferenceSettings.Fetch, _log.Add);
        Assert.Equal(ModelBootstrap.StoreDirectoryFor(source.Manifest, cache), store.Directory);
        Assert.Equal($"llama-{ModelIdentity.Of(source.Manifest)}", Path.GetFileName(store.Directory));
        Assert.Empty(store.PresentUnits());
        Assert.Equal(ModelIdentity.Of(source.Manifest), ModelIdentity.Of(store.Manifest));
        foreach (var f in source.Manifest.Files)
        {
            Assert.Equal(File.ReadAllBytes(Path.Combine(source.Directory, f.Name)), File.ReadAllBytes(Path.Combine(store.Directory, f.Name)));
        }

        Assert.True(File.Exists(Path.Combine(store.Directory, UnitStore.ConfigFile)));
        Assert.Equal(source.Config.NumLayers, store.Config.NumLayers);

        // A later start finds the same store, with the units it gained meanwhile.
        string copy = _dir["begin.copy"];
        File.Copy(source.UnitPath(0), copy);
        store.InstallUnit(0, copy);
        using var again = await ModelBootstrap.CreateStoreFromPeersAsync([candidates[2]], cache, TimeSpan.FromSeconds(30), ReferenceSettings.Fetch);
        Assert.Equal(store.Directory, again.Directory);
        Assert.Equal([0], again.PresentUnits());
    }

    [Fact]
    public async Task No_usable_answer_in_time_fails_naming_each_peer()
    {
        ICanTell[] candidates =
        [
            Sys.ActorOf(FakeHolders.Silent(), "mute"),
            Sys.ActorOf(UnitServer.Props(null, WireLimits.Default), "empty"),
        ];

        var e = await Assert.ThrowsAsync<ModelBootstrapException>(
            () => ModelBootstrap.CreateStoreFromPeersAsync(candidates, _dir["cache"], TimeSpan.FromSeconds(2), ReferenceSettings.Fetch));
        Assert.Contains("/user/mute: no reply within 2 s", e.Message);
        Assert.Contains("/user/empty: refused: no model store here", e.Message);
        Assert.False(Directory.Exists(_dir["cache"]));
    }

    [Fact]
    public async Task A_peer_serving_another_model_than_the_one_expected_is_not_taken()
    {
        using var source = TestModels.ConvertStories(_dir["source"]);
        var server = Sys.ActorOf(UnitServer.Props(source, WireLimits.Default));

        var e = await Assert.ThrowsAsync<ModelBootstrapException>(
            () => ModelBootstrap.FetchManifestAsync([server], TimeSpan.FromSeconds(30), ReferenceSettings.Fetch, expectedIdentity: new ModelId("0123456789abcdef")));
        Assert.Contains($"serves model {ModelIdentity.Of(source.Manifest)}, not 0123456789abcdef", e.Message);

        var offer = await ModelBootstrap.FetchManifestAsync([server], TimeSpan.FromSeconds(30), ReferenceSettings.Fetch, ModelIdentity.Of(source.Manifest));
        Assert.Equal(server.Path.ToString(), offer.From);
    }

    [Fact]
    public async Task Side_files_come_in_chunks_and_a_peer_that_refuses_one_is_passed_over_with_its_reason()
    {
        using var source = TestModels.ConvertStories(_dir["source"]);
        var refusing = Sys.ActorOf(FakeHolders.RefusingFiles(source), "refusing");
        var server = Sys.ActorOf(UnitServer.Props(source, WireLimits.Default), "server");

        // Chunks far smaller than the tokenizer (14 KB): many requests, a window of them in flight, reassembled in order.
        var small = ReferenceSettings.Fetch with { ChunkBytes = 1000, Window = 3 };
        var e = await Assert.ThrowsAsync<ModelBootstrapException>(() => ModelBootstrap.FetchManifestAsync([refusing], TimeSpan.FromSeconds(30), small));
        Assert.Contains($"/user/refusing: refused '{source.Manifest.Files[0].Name}': not today", e.Message);

        var offer = await ModelBootstrap.FetchManifestAsync([refusing, server], TimeSpan.FromSeconds(30), small);
        Assert.Equal(server.Path.ToString(), offer.From);
        foreach (var f in source.Manifest.Files)
        {
            Assert.Equal(File.ReadAllBytes(Path.Combine(source.Directory, f.Name)), offer.Files[f.Name]);
        }
    }

    [Fact]
    public async Task A_side_file_that_does_not_match_its_manifest_is_refused_by_the_server_before_any_pull()
    {
        using var source = TestModels.ConvertStories(_dir["source"]);
        File.AppendAllText(Path.Combine(source.Directory, "tokenizer.json"), " ");
        var server = Sys.ActorOf(UnitServer.Props(source, WireLimits.Default), "stale");
        var e = await Assert.ThrowsAsync<ModelBootstrapException>(() => ModelBootstrap.FetchManifestAsync([server], TimeSpan.FromSeconds(30), ReferenceSettings.Fetch));
        Assert.Contains("/user/stale: refused: tokenizer.json in this store does not match its manifest", e.Message);
    }

    [Fact]
    public void Model_identity_is_short_stable_and_names_the_config_and_every_unit()
    {
        using var source = TestModels.ConvertStories(_dir["source"]);
        var manifest = source.Manifest;
        var id = ModelIdentity.Of(manifest);
        Assert.Matches("^[0-9a-f]{16}$", id.Value);
        Assert.Equal(id, ModelIdentity.Of(StoreManifest.Parse(manifest.ToJson(), "round trip")));

        // Key order in config.json is formatting, not model.
        var reordered = new JsonObject(manifest.Config.Reverse().Select(p => KeyValuePair.Create(p.Key, p.Value?.DeepClone())));
        Assert.Equal(id, ModelIdentity.Of(manifest with { Config = reordered }));

        var otherConfig = manifest.Config.DeepClone().AsObject();
        otherConfig["rope_theta"] = JsonNode.Parse("500000.0");
        Assert.NotEqual(id, ModelIdentity.Of(manifest with { Config = otherConfig }));

        var units = manifest.Units.ToArray();
        units[2] = units[2] with { Sha256 = new string('0', 64) };
        Assert.NotEqual(id, ModelIdentity.Of(manifest with { Units = units }));
    }

    protected override void AfterAll()
    {
        base.AfterAll();
        _dir.Dispose();
    }
}
