using ActorLlm.Cluster.Weights;
using ActorLlm.Inference.Checkpoints;
using ActorLlm.Protocol;
using ActorLlm.Protocol.Messages;
using ActorLlm.Protocol.Serialization;
using Akka.Actor;
using Akka.TestKit;
using Xunit;

namespace ActorLlm.Cluster.Tests.Actors.Worker;

/// <summary>
/// Make-before-break on one worker: a new range is loaded (pulling missing unit files from peers) while the old one
/// serves; a released range serves its sessions until they end (or the drain timeout passes), then is dropped.
/// </summary>
public sealed class StageWorkerHandOverTests(StoriesModel model) : StageWorkerSpec(model), IClassFixture<StoriesModel>
{
    [Fact]
    public void The_old_range_serves_while_the_new_one_loads_both_serve_after_and_a_released_range_serves_its_sessions_until_they_end()
    {
        // The store lacks unit 4 (layer.3): the load of [3, 7) waits on a pull this test answers when it chooses.
        var store = Model.PartialCopy(0, 1, 2, 3, 5, 6);
        var worker = StartWorker(store, First);
        var holder = CreateTestProbe("holder");
        var next = CreateTestProbe();
        var session = CreateTestProbe();
        var old = SessionId.New();
        RouteHop[] toNext = [new(next.Ref, Last)];
        worker.Tell(Step(old, First, 0, Prompt, session.Ref, rest: toNext));
        next.ExpectMsg<StageMessages.Forward>();

        var sources = Enumerable.Range(Last.Start, Last.Count).Select(u => new PlacementMessages.UnitSource(u, [holder.Ref])).ToArray();
        worker.Tell(new PlacementMessages.AssignUnits(2, Last, sources), Coordinator.Ref);
        var request = holder.ExpectMsg<WeightMessages.FetchUnitChunk>();
        Assert.Equal((4, 0L), (request.Unit, request.Offset));

        // While [3, 7) loads: [0, 3) serves its session, and [3, 7) is refused as retryable (a replica may serve it).
        worker.Tell(Step(old, First, Prompt.Length, [5], session.Ref, rest: toNext, step: 2));
        Assert.Equal(Prompt.Length, next.ExpectMsg<StageMessages.Forward>().StartPosition);
        worker.Tell(Step(SessionId.New(), Last, 0, Prompt, session.Ref, StoriesModel.Payload(Prompt.Length, StoriesModel.Hidden)));
        var notYet = session.ExpectMsg<StageMessages.StageFailed>();
        Assert.True(notYet.Retryable);
        Assert.Contains("does not serve [3, 7)", notYet.Reason);
        Assert.Equal([First], State(worker).Serving);
        Coordinator.ExpectNoMsg(TimeSpan.FromMilliseconds(100));

        Deliver(holder, request);
        var loaded = Coordinator.ExpectMsg<PlacementMessages.UnitsLoaded>(LoadWait);
        Assert.Equal((2L, Last), (loaded.Version, loaded.Range));
        Assert.True(store.HasUnit(4));
        Assert.Equal([First, Last], State(worker).Serving);

        // Both ranges serve.
        using var first = StoriesModel.Reference(First);
        var fresh = SessionId.New();
        worker.Tell(Step(fresh, Last, 0, Prompt, session.Ref, StoriesModel.HiddenOf(first, fresh, 0, Prompt)));
        Assert.Equal(fresh, session.ExpectMsg<StageMessages.TokenSampled>().Session);
        worker.Tell(Step(old, First, Prompt.Length + 1, [6], session.Ref, rest: toNext, step: 3));
        next.ExpectMsg<StageMessages.Forward>();

        // Released, [0, 3) drains: no longer listed as served, but its session carries on.
        worker.Tell(new PlacementMessages.ReleaseUnits(3, First), Coordinator.Ref);
        var draining = State(worker);
        Assert.Equal([Last], draining.Serving);
        Assert.Equal([First], draining.Draining);
        Assert.Equal(2, draining.ActiveSessions);
        worker.Tell(Step(old, First, Prompt.Length + 2, [7], session.Ref, rest: toNext, step: 4));
        Assert.Equal(Prompt.Length + 2, next.ExpectMsg<StageMessages.Forward>().StartPosition);

        // A range the worker does not serve is refused as retryable.
        worker.Tell(Step(SessionId.New(), new UnitRange(0, 5), 0, Prompt, session.Ref));
        var unserved = session.ExpectMsg<StageMessages.StageFailed>();
        Assert.True(unserved.Retryable);
        Assert.Contains("does not serve [0, 5)", unserved.Reason);

        // Its last session released, [0, 3) is dropped at once; the other range keeps its session.
        worker.Tell(new StageMessages.ReleaseSession(old));
        var after = State(worker);
        Assert.Equal([Last], after.Serving);
        Assert.Empty(after.Draining);
        Assert.Equal(1, after.ActiveSessions);
        worker.Tell(Step(SessionId.New(), First, 0, Prompt, session.Ref, rest: toNext));
        var gone = session.ExpectMsg<StageMessages.StageFailed>();
        Assert.True(gone.Retryable);
        Assert.Contains("does not serve [0, 3)", gone.Reason);
        next.ExpectNoMsg(TimeSpan.Zero);
    }

    [Fact]
    public void A_released_range_whose_session_never_ends_is_dropped_after_the_drain_timeout()
    {
        var worker = Spawn(drainTimeout: TimeSpan.FromMilliseconds(200));
        Accept(worker);
        Load(worker, First, 1);
        var next = CreateTestProbe();
        worker.Tell(Step(SessionId.New(), First, 0, Prompt, TestActor, rest: [new RouteHop(next.Ref, Last)]));
        next.ExpectMsg<StageMessages.Forward>();

        worker.Tell(new PlacementMessages.ReleaseUnits(2, First), Coordinator.Ref);
        Assert.Equal([First], State(worker).Draining);

        // Draining ranges are checked every 100 ms here; the session still holds its cache, but the timeout has passed.
        AwaitAssert(() => Assert.Empty(State(worker).Draining), TimeSpan.FromSeconds(5), TimeSpan.FromMilliseconds(100));
        Assert.Empty(State(worker).Serving);
    }

    [Fact]
    public void Units_missing_from_the_store_are_pulled_from_a_peer_then_the_range_loads_and_serves()
    {
        var store = Model.PartialCopy(0, 1);
        var peer = Sys.ActorOf(UnitServer.Props(Model.Store, WireLimits.Default), "peer-units");
        var worker = StartWorker(store);

        // The worker's own node is listed as a holder too (it announced its unit server); it pulls only from peers.
        var sources = Enumerable.Range(0, StoriesModel.Units).Select(u => new PlacementMessages.UnitSource(u, [OwnUnitServer.Ref, peer])).ToArray();
        Load(worker, StoriesModel.Whole, 1, sources);
        Assert.Equal(Enumerable.Range(0, StoriesModel.Units), store.PresentUnits());
        Assert.All(Enumerable.Range(0, StoriesModel.Units), u => Assert.True(store.VerifyUnit(u)));
        OwnUnitServer.ExpectNoMsg(TimeSpan.Zero);

        using var whole = StoriesModel.Reference(StoriesModel.Whole);
        worker.Tell(Step(SessionId.New(), StoriesModel.Whole, 0, Prompt, TestActor));
        Assert.Equal(StoriesModel.GreedyNext(whole, SessionId.New(), 0, Prompt), ExpectMsg<StageMessages.TokenSampled>().Token);
    }

    /// <summary>Bit rot in a unit of <paramref name="store"/>: 4 bytes of its tensor data overwritten, its size intact.</summary>
    private static void Rot(UnitStore store, int unit)
    {
        string path = store.UnitPath(unit);
        var written = File.GetLastWriteTimeUtc(path);
        TestModels.CorruptTensorData(path);

        // Whatever the file system's clock resolution: the write shows in the modification time, as it would.
        File.SetLastWriteTimeUtc(path, written.AddSeconds(1));
    }

    [Fact]
    public void A_unit_corrupt_on_disk_is_never_served_it_is_removed_pulled_again_from_a_peer_and_the_range_serves_the_right_tokens()
    {
        var store = Model.PartialCopy(Enumerable.Range(0, StoriesModel.Units).ToArray());
        Rot(store, 2);
        var peer = Sys.ActorOf(UnitServer.Props(Model.Store, WireLimits.Default), "peer-units");
        var worker = StartWorker(store);
        var sources = Enumerable.Range(0, StoriesModel.Units).Select(u => new PlacementMessages.UnitSource(u, [OwnUnitServer.Ref, peer])).ToArray();

        EventFilter.Error(contains: "unit 2 of [0, 7) is corrupt on disk and will not be served").ExpectOne(() => Load(worker, StoriesModel.Whole, 1, sources));
        Assert.True(store.VerifyUnit(2));
        Assert.All(Enumerable.Range(0, StoriesModel.Units), u => Assert.Null(store.Verify(u)));

        using var whole = StoriesModel.Reference(StoriesModel.Whole);
        worker.Tell(Step(SessionId.New(), StoriesModel.Whole, 0, Prompt, TestActor));
        Assert.Equal(StoriesModel.GreedyNext(whole, SessionId.New(), 0, Prompt), ExpectMsg<StageMessages.TokenSampled>().Token);
    }

    [Fact]
    public void A_corrupt_unit_that_no_peer_holds_fails_the_load_with_the_reason_so_the_range_goes_elsewhere_and_the_file_is_gone()
    {
        var store = Model.PartialCopy(0, 1, 2, 3);
        Rot(store, 1);
        var worker = StartWorker(store);
        var ownOnly = Enumerable.Range(0, 3).Select(u => new PlacementMessages.UnitSource(u, [OwnUnitServer.Ref])).ToArray();
        worker.Tell(new PlacementMessages.AssignUnits(1, First, ownOnly), Coordinator.Ref);
        var failed = Coordinator.ExpectMsg<PlacementMessages.UnitsLoadFailed>(LoadWait);
        Assert.Equal((WorkerKey, 1L, First), (failed.DeviceKey, failed.Version, failed.Range));
        Assert.Contains("unit 1 is not in the local store and no peer holds it", failed.Reason);
        Assert.False(store.HasUnit(1));
        Assert.Empty(State(worker).Serving);
    }

    [Fact]
    public void A_missing_unit_that_no_peer_holds_or_delivers_fails_the_load_with_the_reason_and_the_worker_loads_the_next_assignment()
    {
        var store = Model.PartialCopy(0, 1, 2);
        var worker = StartWorker(store);
        var range = new UnitRange(0, 5);

        // Nobody but the worker's own node is named for unit 3.
        var ownOnly = Enumerable.Range(0, 5).Select(u => new PlacementMessages.UnitSource(u, [OwnUnitServer.Ref])).ToArray();
        worker.Tell(new PlacementMessages.AssignUnits(3, range, ownOnly), Coordinator.Ref);
        var failed = Coordinator.ExpectMsg<PlacementMessages.UnitsLoadFailed>(LoadWait);
        Assert.Equal((WorkerKey, 3L, range), (failed.DeviceKey, failed.Version, failed.Range));
        Assert.Contains("unit 3 is not in the local store and no peer holds it", failed.Reason);

        // A peer without the model refuses.
        var empty = Sys.ActorOf(UnitServer.Props(null, WireLimits.Default), "empty-units");
        var refused = Enumerable.Range(0, 5).Select(u => new PlacementMessages.UnitSource(u, [empty])).ToArray();
        worker.Tell(new PlacementMessages.AssignUnits(4, range, refused), Coordinator.Ref);
        failed = Coordinator.ExpectMsg<PlacementMessages.UnitsLoadFailed>(LoadWait);
        Assert.Equal((4L, range), (failed.Version, failed.Range));
        Assert.Contains("could not pull unit", failed.Reason);
        Assert.Contains("no model store here", failed.Reason);
        Assert.Empty(State(worker).Serving);

        Load(worker, First, 5);
        Assert.Equal([First], State(worker).Serving);
    }

    [Fact]
    public void An_assignment_that_replaces_one_still_loading_is_the_only_one_loaded_and_reported()
    {
        var store = Model.PartialCopy(0, 1, 2, 3, 5, 6);
        var worker = StartWorker(store);
        var holder = CreateTestProbe("holder");
        var toHolder = Enumerable.Range(0, StoriesModel.Units).Select(u => new PlacementMessages.UnitSource(u, [holder.Ref])).ToArray();
        worker.Tell(new PlacementMessages.AssignUnits(1, Last, toHolder), Coordinator.Ref);
        var request = holder.ExpectMsg<WeightMessages.FetchUnitChunk>();

        // Re-planned while unit 4 is on its way: [5, 7) needs no pull, but waits for the load under way.
        var replacement = new UnitRange(5, StoriesModel.Units);
        worker.Tell(new PlacementMessages.AssignUnits(2, replacement, toHolder), Coordinator.Ref);
        Coordinator.ExpectNoMsg(TimeSpan.FromMilliseconds(100));
        Deliver(holder, request);

        var loaded = Coordinator.ExpectMsg<PlacementMessages.UnitsLoaded>(LoadWait);
        Assert.Equal((2L, replacement), (loaded.Version, loaded.Range));
        Assert.Equal([replacement], State(worker).Serving);
        Coordinator.ExpectNoMsg(TimeSpan.FromMilliseconds(100));
    }

    [Fact]
    public void When_a_replaced_load_fails_the_replacement_is_loaded_not_reported_failed()
    {
        // The store lacks units 3 and 4: the first assignment pulls both, from one holder.
        var store = Model.PartialCopy(0, 1, 2, 5, 6);
        var worker = StartWorker(store);
        var holder = CreateTestProbe("holder");
        var toHolder = Enumerable.Range(0, StoriesModel.Units).Select(u => new PlacementMessages.UnitSource(u, [holder.Ref])).ToArray();
        worker.Tell(new PlacementMessages.AssignUnits(1, Last, toHolder), Coordinator.Ref);
        var requests = new List<(WeightMessages.FetchUnitChunk Request, IActorRef Fetcher)>();
        for (int i = 0; i < 2; i++)
        {
            requests.Add((holder.ExpectMsg<WeightMessages.FetchUnitChunk>(), holder.LastSender));
        }

        Assert.Equal([3, 4], requests.Select(r => r.Request.Unit).Order());

        // Re-planned (its holder's node is leaving, say); then the holder refuses both units of the old assignment.
        // The second refusal reaches the worker from a fetcher it has already stopped.
        var replacement = new UnitRange(5, StoriesModel.Units);
        worker.Tell(new PlacementMessages.AssignUnits(2, replacement, toHolder), Coordinator.Ref);

        // The worker hands assignments to its range loader; once it has answered a later question, the new
        // assignment is in the loader's mailbox ahead of anything the fetchers send it from here on.
        State(worker);
        foreach (var (request, fetcher) in requests)
        {
            fetcher.Tell(new WeightMessages.UnitUnavailable(request.Unit, "shutting down"), holder.Ref);
        }

        var answer = Coordinator.ExpectMsg<object>(LoadWait);
        var loaded = Assert.IsType<PlacementMessages.UnitsLoaded>(answer);
        Assert.Equal((2L, replacement), (loaded.Version, loaded.Range));
        Coordinator.ExpectNoMsg(TimeSpan.FromMilliseconds(200));
        Assert.Equal([replacement], State(worker).Serving);
    }

    /// <summary>Answers a chunk request with the unit file's real bytes, as a peer's UnitServer would.</summary>
    private void Deliver(TestProbe holder, WeightMessages.FetchUnitChunk request)
    {
        byte[] file = File.ReadAllBytes(Model.Store.UnitPath(request.Unit));
        int length = (int)Math.Min(request.Length, file.Length - request.Offset);
        Assert.Equal(file.Length, length);
        holder.Reply(new WeightMessages.UnitChunk(request.Unit, request.Offset, file.AsSpan((int)request.Offset, length).ToArray(), file.Length));
    }
}
