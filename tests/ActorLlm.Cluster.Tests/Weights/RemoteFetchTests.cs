using ActorLlm.Cluster.Weights;
using ActorLlm.Inference.Checkpoints;
using ActorLlm.Protocol.Serialization;
using Akka.Actor;
using Akka.Configuration;
using Akka.TestKit.Xunit2;
using Xunit;

namespace ActorLlm.Cluster.Tests.Weights;

/// <summary>
/// Two actor systems talking through Akka.Remote on loopback, as two nodes do: node B, which has no model, creates its
/// store from node A's manifest and pulls units from A's UnitServer, in chunks of the largest size the wire allows.
/// This is where a frame too small for a chunk, or a message missing from the serializer, would show.
/// </summary>
public sealed class RemoteFetchTests : TestKit
{
    private readonly TempDir _dir = new();
    private readonly ActorSystem _nodeA;
    private readonly UnitStore _storeA;
    private readonly Address _addressA;

    public RemoteFetchTests()
        : base(WeightsConfig.Remote, "nodeB")
    {
        _nodeA = ActorSystem.Create("nodeA", ConfigurationFactory.ParseString(WeightsConfig.Remote));
        _addressA = ((ExtendedActorSystem)_nodeA).Provider.DefaultAddress;
        UnitStoreWriter.Convert(TestModels.WriteLargeVocabModel(_dir["hf-large"]), _dir["storeA"]);
        _storeA = UnitStore.Open(_dir["storeA"]);
        _nodeA.ActorOf(UnitServer.Props(_storeA, WireLimits.Default), UnitServer.Name);
    }

    private ActorSelection OnNodeA(string path) => Sys.ActorSelection(new RootActorPath(_addressA) / "user" / path);

    [Fact]
    public async Task A_node_without_a_model_bootstraps_from_a_peer_and_pulls_units_in_maximal_chunks()
    {
        int maxChunk = WireLimits.Default.MaxChunkBytes;
        Assert.True(_storeA.Unit(0).Bytes > maxChunk, "the begin unit must need more than one maximal chunk");

        var storeB = await ModelBootstrap.CreateStoreFromPeersAsync([OnNodeA(UnitServer.Name)], _dir["cacheB"], TimeSpan.FromSeconds(10), ReferenceSettings.Fetch);
        using (storeB)
        {
            Assert.Empty(storeB.PresentUnits());
            Assert.Equal(ModelIdentity.Of(_storeA.Manifest), ModelIdentity.Of(storeB.Manifest));
            Assert.Equal(File.ReadAllBytes(Path.Combine(_storeA.Directory, "tokenizer.json")), File.ReadAllBytes(Path.Combine(storeB.Directory, "tokenizer.json")));

            var serverA = await OnNodeA(UnitServer.Name).ResolveOne(TimeSpan.FromSeconds(5));
            var options = ReferenceSettings.Fetch with { ChunkBytes = maxChunk, Window = 2 };
            for (int unit = 0; unit < storeB.UnitCount; unit++)
            {
                Sys.ActorOf(UnitFetcher.Props(storeB, unit, [serverA], TestActor, options));
                var fetched = ExpectMsg<UnitFetcher.Fetched>(TimeSpan.FromSeconds(30));
                Assert.Equal(unit, fetched.Unit);
                Assert.StartsWith(_addressA.ToString(), fetched.From);
                Assert.True(storeB.VerifyUnit(unit));
            }

            Assert.Empty(TestModels.HiddenFiles(storeB.Directory));
        }
    }

    [Fact]
    public async Task A_remote_holder_that_has_stopped_is_skipped_through_death_watch()
    {
        var silent = _nodeA.ActorOf(FakeHolders.Silent(), "silent");
        var remoteSilent = await OnNodeA("silent").ResolveOne(TimeSpan.FromSeconds(5));
        var serverA = await OnNodeA(UnitServer.Name).ResolveOne(TimeSpan.FromSeconds(5));

        // Stopped with the Terminate system message: see UnitFetcherTests.StopNow.
        ((IInternalActorRef)silent).Stop();
        using var storeB = TestModels.EmptyCopy(_storeA, _dir["storeB"]);

        // A timeout far beyond the ExpectMsg's: only the remote death watch can move the fetcher on in time.
        Sys.ActorOf(UnitFetcher.Props(storeB, 1, [remoteSilent, serverA], TestActor, ReferenceSettings.Fetch with { ChunkTimeout = TimeSpan.FromMinutes(5) }));
        var fetched = ExpectMsg<UnitFetcher.Fetched>(TimeSpan.FromSeconds(20));
        Assert.StartsWith(_addressA.ToString(), fetched.From);
        Assert.EndsWith("/user/" + UnitServer.Name, fetched.From);
    }

    protected override void AfterAll()
    {
        base.AfterAll();
        Shutdown(_nodeA);
        _storeA.Dispose();
        _dir.Dispose();
    }
}
