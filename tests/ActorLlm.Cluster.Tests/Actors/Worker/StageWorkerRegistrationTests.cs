using Akka.Actor;
using ActorLlm.Cluster.Worker;
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
    public async Task A_final_refusal_is_said_once_and_shuts_the_node_down_with_a_failure_exit_code()
    {
        Spawn();
        var first = Coordinator.ExpectMsg<PlacementMessages.RegisterDevice>();
        EventFilter.Error(contains: "the pool refused this worker: this pool serves model other").ExpectOne(() =>
            Coordinator.Reply(new PlacementMessages.DeviceRegistered(first.Device.Key, false, "this pool serves model other", Final: true)));
        await Sys.WhenTerminated.WaitAsync(TimeSpan.FromSeconds(30));
        var reason = CoordinatedShutdown.Get(Sys).ShutdownReason;
        Assert.IsType<RefusedByPool>(reason);
        Assert.Equal(1, reason.ExitCode);
    }

    [Fact]
    public void Refusals_in_a_row_double_the_wait_up_to_the_backoff_maximum_with_one_line_each_and_no_load_reports_meanwhile()
    {
        // Retry 100 ms, at most 400 ms: waits of 100, 200, 400, 400 ms. Load reports every 50 ms would come between
        // the registrations if an unregistered worker sent them (each would only be refused again).
        var max = TimeSpan.FromMilliseconds(400);
        Spawn(loadReport: TimeSpan.FromMilliseconds(50), registerBackoffMax: max);
        var registration = Coordinator.ExpectMsg<PlacementMessages.RegisterDevice>();
        var refused = new PlacementMessages.DeviceRegistered(registration.Device.Key, false, "this pool serves model other, the device's store holds mine");
        var clock = System.Diagnostics.Stopwatch.StartNew();
        foreach (int expectedMs in new[] { 100, 200, 400, 400 })
        {
            // Timed from the reply: the worker takes the refusal in after it, whenever its log line is seen here.
            var since = clock.Elapsed;
            EventFilter.Warning(contains: "refused the registration").ExpectOne(() => Coordinator.Reply(refused));

            // Resends of the unanswered registration that went before the refusal was taken in (none can follow it).
            while (Coordinator.HasMessages)
            {
                Coordinator.ExpectMsg<PlacementMessages.RegisterDevice>();
            }

            Coordinator.ExpectMsg<PlacementMessages.RegisterDevice>(TimeSpan.FromSeconds(5));
            var gap = clock.Elapsed - since;
            Assert.True(gap >= TimeSpan.FromMilliseconds(expectedMs - 15), $"registered again after {gap.TotalMilliseconds:F0} ms, expected {expectedMs} ms");
        }

        // Accepted, the next refusal (a new coordinator that does not know it) waits the shortest time again.
        Coordinator.Reply(new PlacementMessages.DeviceRegistered(registration.Device.Key, true, ""));
        Coordinator.FishForMessage<PlacementMessages.StageLoad>(_ => true, TimeSpan.FromSeconds(5));
        Coordinator.Reply(new PlacementMessages.DeviceRegistered(registration.Device.Key, false, "unknown device: register again"));
        var before = clock.Elapsed;
        Coordinator.FishForMessage<PlacementMessages.RegisterDevice>(_ => true, TimeSpan.FromSeconds(5));
        Assert.True(clock.Elapsed - before < max, "registered again after the shortest wait");
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
