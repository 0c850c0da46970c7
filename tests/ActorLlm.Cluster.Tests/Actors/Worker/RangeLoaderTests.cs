using ActorLlm.Cluster.Worker.Internal;
using ActorLlm.Protocol;
using ActorLlm.Protocol.Messages;
using Akka.Actor;
using Xunit;

namespace ActorLlm.Cluster.Tests.Actors.Worker;

/// <summary>
/// The worker's range loader on its own, with the test actor as the worker: what the worker cannot show, because
/// it answers too fast for a test to step between the loader's hand-over and its adoption.
/// </summary>
public sealed class RangeLoaderTests(StoriesModel model) : StageWorkerSpec(model), IClassFixture<StoriesModel>
{
    private IActorRef Loader() => ChildActorOf(RangeLoader.Props(
        new DeviceDescriptor(WorkerKey.Node, "cpu", "m1", 1_000_000_000, 5000, DType.F32),
        Settings(),
        Model.Store,
        Coordinator.Ref,
        OwnUnitServer.Ref));

    private static RangeLoader.Assign Assign(long version, UnitRange range, IActorRef replyTo, bool served = false) =>
        new(new PlacementMessages.AssignUnits(version, range, []), replyTo, served);

    [Fact]
    public void A_range_handed_over_but_not_yet_adopted_counts_as_served_and_once_adopted_the_workers_word_decides()
    {
        var loader = Loader();
        loader.Tell(Assign(1, First, Coordinator.Ref));
        using var loaded = ExpectMsg<RangeLoader.Loaded>(LoadWait).Executor;
        Assert.Equal(First, loaded.Range);
        var reported = Coordinator.ExpectMsg<PlacementMessages.UnitsLoaded>();
        Assert.Equal((WorkerKey, 1L, First), (reported.DeviceKey, reported.Version, reported.Range));

        // The worker sent the resend before it took the executor in, so it did not know it serves the range yet.
        loader.Tell(Assign(2, First, Coordinator.Ref));
        var again = Coordinator.ExpectMsg<PlacementMessages.UnitsLoaded>();
        Assert.Equal((2L, First, 0.0), (again.Version, again.Range, again.Seconds));
        Assert.Equal(TestActor, Coordinator.LastSender);

        // Adopted, the range is the worker's to judge: released and dropped there since, it is loaded anew. (Had the
        // resend started a second load, its Loaded and its UnitsLoaded for v2 would arrive here first.)
        loader.Tell(new RangeLoader.Adopted(First));
        loader.Tell(Assign(3, First, Coordinator.Ref));
        using var reloaded = ExpectMsg<RangeLoader.Loaded>(LoadWait).Executor;
        Assert.NotSame(loaded, reloaded);
        Assert.Equal(3L, Coordinator.ExpectMsg<PlacementMessages.UnitsLoaded>().Version);
    }

    [Fact]
    public void A_served_range_is_answered_to_the_asker_and_the_load_under_way_is_then_dropped()
    {
        var loader = Loader();
        var asker = CreateTestProbe();
        loader.Tell(Assign(1, Last, Coordinator.Ref));
        loader.Tell(Assign(2, First, asker.Ref, served: true));
        var answer = asker.ExpectMsg<PlacementMessages.UnitsLoaded>();
        Assert.Equal((2L, First, 0.0), (answer.Version, answer.Range, answer.Seconds));

        // [3, 7) loads for nobody: whether its load has ended or not, only the next assignment of it is handed over.
        loader.Tell(Assign(3, Last, Coordinator.Ref));
        using var loaded = ExpectMsg<RangeLoader.Loaded>(LoadWait).Executor;
        Assert.Equal(Last, loaded.Range);
        Assert.Equal(3L, Coordinator.ExpectMsg<PlacementMessages.UnitsLoaded>().Version);

        // An absence has no message to wait for: a window long enough for a second build of this tiny range.
        ExpectNoMsg(TimeSpan.FromMilliseconds(200));
        Coordinator.ExpectNoMsg(TimeSpan.Zero);
    }
}
