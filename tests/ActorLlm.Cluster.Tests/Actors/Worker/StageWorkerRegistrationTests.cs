using ActorLlm.Protocol;
using ActorLlm.Protocol.Messages;
using Xunit;

namespace ActorLlm.Cluster.Tests.Actors.Worker;

/// <summary>A worker registers with the coordinator until it is accepted, and again whenever the coordinator forgets it.</summary>
public sealed class StageWorkerRegistrationTests(StoriesModel model) : StageWorkerSpec(model), IClassFixture<StoriesModel>
{
    [Fact]
    public void Registers_with_what_it_is_and_resends_every_retry_until_accepted_then_stops()
    {
        var worker = Spawn();
        var first = Coordinator.ExpectMsg<PlacementMessages.RegisterDevice>();
        var device = first.Device;
        Assert.Equal(NodeAddress.Of(Akka.Cluster.Cluster.Get(Sys).SelfAddress), device.Node);
        Assert.Equal(("cpu", "m1", 1_000_000_000L, 5000.0, DType.F32), (device.Device, device.Machine, device.MemoryBytes, device.Speed, device.DType));
        Assert.Equal(WorkerKey, device.Key);
        Assert.Equal(worker, first.Worker);
        Assert.Equal(OwnUnitServer.Ref, first.UnitServer);
        Assert.Equal(Enumerable.Range(0, StoriesModel.Units), first.LocalUnits);
        Assert.Equal(Model.ModelId, first.ModelId);
        Assert.Empty(first.Serving);

        // Unanswered, the registration comes again (every 100 ms here), and the worker knows it is not registered.
        Coordinator.ExpectMsg<PlacementMessages.RegisterDevice>(r => r.Device == device);
        Coordinator.ExpectMsg<PlacementMessages.RegisterDevice>(r => r.Device == device);
        Assert.False(State(worker).Registered);

        Coordinator.Reply(new PlacementMessages.DeviceRegistered(device.Key, true, ""));
        AwaitAssert(() => Assert.True(State(worker).Registered));
        while (Coordinator.HasMessages)
        {
            Coordinator.ExpectMsg<PlacementMessages.RegisterDevice>();
        }

        Coordinator.ExpectNoMsg(Retry * 4);
    }

    [Fact]
    public void A_refusal_keeps_it_registering()
    {
        var worker = Spawn();
        var first = Coordinator.ExpectMsg<PlacementMessages.RegisterDevice>();
        Coordinator.Reply(new PlacementMessages.DeviceRegistered(first.Device.Key, false, "this pool serves model other"));
        Coordinator.ExpectMsg<PlacementMessages.RegisterDevice>();
        Coordinator.ExpectMsg<PlacementMessages.RegisterDevice>();
        Assert.False(State(worker).Registered);
    }

    [Fact]
    public void A_coordinator_that_does_not_know_it_answers_its_load_report_and_it_registers_again_with_the_ranges_it_serves()
    {
        var worker = Spawn(loadReport: TimeSpan.FromMilliseconds(200));
        var first = Coordinator.FishForMessage<PlacementMessages.RegisterDevice>(_ => true);
        Coordinator.Reply(new PlacementMessages.DeviceRegistered(first.Device.Key, true, ""));
        AwaitAssert(() => Assert.True(State(worker).Registered));
        worker.Tell(new PlacementMessages.AssignUnits(1, First, []), Coordinator.Ref);
        Coordinator.FishForMessage<PlacementMessages.UnitsLoaded>(l => l.Range == First, LoadWait);

        // A new coordinator (after a singleton hand-over) answers the periodic load report with "unknown device".
        var report = Coordinator.FishForMessage<PlacementMessages.StageLoad>(_ => true);
        Assert.Equal(WorkerKey, report.DeviceKey);
        Coordinator.Reply(new PlacementMessages.DeviceRegistered(WorkerKey, false, "unknown device: register again"));

        var again = Coordinator.FishForMessage<PlacementMessages.RegisterDevice>(_ => true);
        Assert.Equal([First], again.Serving);
        Coordinator.Reply(new PlacementMessages.DeviceRegistered(WorkerKey, true, ""));
        AwaitAssert(() => Assert.True(State(worker).Registered));
        Assert.Equal([First], State(worker).Serving);
    }
}
