using ActorLlm.Cluster.Hosting;
using ActorLlm.Cluster.Weights;
using ActorLlm.Inference.Checkpoints;
using ActorLlm.Protocol.Serialization;
using Akka.Actor;
using Akka.TestKit.Xunit2;
using Xunit;

namespace ActorLlm.Cluster.Tests.Weights;

/// <summary>
/// A fetcher installs a unit only when its bytes match the manifest, falls through bad holders to a good one,
/// names every holder's failure when none is good, and leaves no temporary file behind.
/// </summary>
public sealed class UnitFetcherTests : TestKit
{
    /// <summary>Short enough to keep the tests quick, long enough for a local reply on a loaded machine.</summary>
    private static readonly FetchSettings s_impatient = ReferenceSettings.Fetch with { ChunkTimeout = TimeSpan.FromSeconds(1) };

    private readonly TempDir _dir = new();
    private readonly UnitStore _source;
    private readonly UnitStore _target;
    private readonly IActorRef _server;

    public UnitFetcherTests()
        : base(WeightsConfig.Local)
    {
        _source = TestModels.ConvertStories(_dir["source"]);
        _target = TestModels.EmptyCopy(_source, _dir["target"]);
        _server = Sys.ActorOf(UnitServer.Props(_source, WireLimits.Default), "good");
    }

    /// <summary>Runs a fetcher to its end: its one reply, after it has stopped (so its clean-up is done too).</summary>
    private object Fetch(int unit, IReadOnlyList<IActorRef> holders, FetchSettings? settings = null, int? maxAttempts = null)
    {
        var fetcher = Sys.ActorOf(UnitFetcher.Props(_target, unit, holders, TestActor, settings ?? ReferenceSettings.Fetch, maxAttempts));
        Watch(fetcher);
        var reply = ExpectMsg<object>(TimeSpan.FromSeconds(10));
        ExpectTerminated(fetcher);
        Assert.Empty(TestModels.HiddenFiles(_target.Directory));
        return reply;
    }

    /// <summary>
    /// Stops an actor with the Terminate system message. ActorSystem.Stop and PoisonPill go as ordinary messages
    /// (StopChild, PoisonPill) that have no serializer binding here, so with serialize-messages on they are dropped.
    /// </summary>
    private static void StopNow(IActorRef actor) => ((IInternalActorRef)actor).Stop();

    [Fact]
    public void Pulls_every_unit_of_a_model_into_an_empty_store()
    {
        Assert.Empty(_target.PresentUnits());

        // A chunk size that divides no unit evenly, so every unit ends on a short chunk.
        var options = ReferenceSettings.Fetch with { ChunkBytes = 7000, Window = 3 };
        for (int unit = 0; unit < _target.UnitCount; unit++)
        {
            var fetched = Assert.IsType<UnitFetcher.Fetched>(Fetch(unit, [_server], options));
            Assert.Equal(unit, fetched.Unit);
            Assert.Equal(_source.Unit(unit).Bytes, fetched.Bytes);
            Assert.Equal(_server.Path.ToString(), fetched.From);
        }

        Assert.Equal(Enumerable.Range(0, _target.UnitCount), _target.PresentUnits());
        Assert.All(Enumerable.Range(0, _target.UnitCount), u => Assert.True(_target.VerifyUnit(u)));
    }

    [Fact]
    public void A_unit_already_present_is_reported_without_asking_anyone()
    {
        string copy = _dir["end.copy"];
        int end = _target.UnitCount - 1;
        File.Copy(_source.UnitPath(end), copy);
        _target.InstallUnit(end, copy);

        var fetched = Assert.IsType<UnitFetcher.Fetched>(Fetch(end, [Sys.ActorOf(FakeHolders.Silent())]));
        Assert.Equal("local store", fetched.From);
    }

    [Fact]
    public void A_holder_serving_corrupt_bytes_is_caught_by_the_checksum_and_the_next_holder_serves()
    {
        var corrupt = Sys.ActorOf(FakeHolders.Corrupting(_source), "corrupt");
        var fetched = Assert.IsType<UnitFetcher.Fetched>(Fetch(1, [corrupt, _server]));
        Assert.Equal(_server.Path.ToString(), fetched.From);
        Assert.True(_target.VerifyUnit(1));
    }

    [Fact]
    public void A_holder_that_never_answers_times_out_and_the_next_holder_serves()
    {
        var silent = Sys.ActorOf(FakeHolders.Silent(), "silent");
        var fetched = Assert.IsType<UnitFetcher.Fetched>(Fetch(2, [silent, _server], s_impatient));
        Assert.Equal(_server.Path.ToString(), fetched.From);
        Assert.True(_target.VerifyUnit(2));
    }

    [Fact]
    public void A_holder_that_has_stopped_is_skipped_at_once()
    {
        var gone = Sys.ActorOf(FakeHolders.Silent(), "gone");
        Watch(gone);
        StopNow(gone);
        ExpectTerminated(gone);

        // A timeout far beyond the ExpectMsg's: only the death watch can move the fetcher on in time.
        var fetched = Assert.IsType<UnitFetcher.Fetched>(Fetch(0, [gone, _server], ReferenceSettings.Fetch with { ChunkTimeout = TimeSpan.FromMinutes(5) }));
        Assert.Equal(_server.Path.ToString(), fetched.From);
    }

    [Fact]
    public void When_every_holder_fails_the_reply_names_each_failure()
    {
        var gone = Sys.ActorOf(FakeHolders.Silent(), "dead");
        Watch(gone);
        StopNow(gone);
        ExpectTerminated(gone);
        IActorRef[] holders =
        [
            Sys.ActorOf(UnitServer.Props(null, WireLimits.Default), "empty"),
            Sys.ActorOf(FakeHolders.Silent(), "mute"),
            Sys.ActorOf(FakeHolders.Corrupting(_source), "flipper"),
            Sys.ActorOf(FakeHolders.Short(_source), "short"),
            gone,
        ];

        var failed = Assert.IsType<UnitFetcher.Failed>(Fetch(1, holders, s_impatient));
        Assert.Equal(1, failed.Unit);
        Assert.Contains("/user/empty: refused: no model store here", failed.Reason);
        Assert.Contains("/user/mute: no reply for the chunk at offset 0 within 1 s", failed.Reason);
        Assert.Contains("/user/flipper: not installed", failed.Reason);
        Assert.Contains("does not match the manifest", failed.Reason);
        Assert.Contains("/user/short: sent", failed.Reason);
        Assert.Contains("/user/dead: stopped or became unreachable", failed.Reason);
        Assert.False(_target.HasUnit(1));
    }

    [Fact]
    public void Attempts_can_go_round_the_holders_again()
    {
        var silent = Sys.ActorOf(FakeHolders.Silent(), "quiet");
        var failed = Assert.IsType<UnitFetcher.Failed>(Fetch(3, [silent], s_impatient, maxAttempts: 2));
        Assert.Equal(2, failed.Reason.Split("/user/quiet:").Length - 1);
    }

    [Fact]
    public void No_holders_is_a_failure_not_a_hang()
    {
        var failed = Assert.IsType<UnitFetcher.Failed>(Fetch(1, []));
        Assert.Contains("no node holds it", failed.Reason);
    }

    [Fact]
    public void A_fetcher_stopped_mid_transfer_leaves_no_temporary_file()
    {
        var silent = Sys.ActorOf(FakeHolders.Silent(), "hush");
        var fetcher = Sys.ActorOf(UnitFetcher.Props(_target, 1, [silent], TestActor, ReferenceSettings.Fetch));
        Watch(fetcher);

        // The temporary file exists once the first requests are out.
        AwaitAssert(() => Assert.NotEmpty(TestModels.HiddenFiles(_target.Directory)));
        StopNow(fetcher);
        ExpectTerminated(fetcher);
        Assert.Empty(TestModels.HiddenFiles(_target.Directory));
        Assert.False(_target.HasUnit(1));
    }

    [Fact]
    public void Invalid_settings_are_refused_when_the_props_are_made()
    {
        Assert.Throws<ArgumentException>(() => UnitFetcher.Props(_target, 0, [_server], TestActor, ReferenceSettings.Fetch with { Window = 0 }));
        Assert.Throws<ArgumentException>(() => UnitFetcher.Props(_target, 0, [_server], TestActor, ReferenceSettings.Fetch with { ChunkTimeout = TimeSpan.Zero }));
        Assert.Throws<ArgumentException>(() => UnitFetcher.Props(_target, 0, [_server], TestActor, ReferenceSettings.Fetch, maxAttempts: 0));
    }

    protected override void AfterAll()
    {
        base.AfterAll();
        _source.Dispose();
        _target.Dispose();
        _dir.Dispose();
    }
}
