using ActorLlm.Protocol;
using ActorLlm.Protocol.Messages;
using Xunit;

namespace ActorLlm.Cluster.Tests.Actors.Placement;

/// <summary>Registration, the first plan's rollout and publication, load reports and the status reply.</summary>
public sealed class PlacementCoordinatorTests : PlacementCoordinatorSpec
{
    [Fact]
    public void A_device_of_the_pools_model_is_accepted_and_one_of_another_model_is_refused_with_the_reason_and_never_planned()
    {
        var coordinator = StartCoordinator();
        var a = Join(coordinator, "m1");

        var stranger = NewDevice("m9");
        coordinator.Tell(Registration(stranger, modelId: new ModelId("model-b")), stranger.Worker.Ref);
        var refused = stranger.Worker.ExpectMsg<PlacementMessages.DeviceRegistered>();
        Assert.False(refused.Accepted);
        Assert.Equal(stranger.Key, refused.DeviceKey);
        Assert.Contains("model-a", refused.Reason);
        Assert.Contains("model-b", refused.Reason);

        var whole = a.Worker.ExpectMsg<PlacementMessages.AssignUnits>();
        Assert.Equal(UnitRange.Whole(Model.Layers), whole.Range);
        stranger.Worker.ExpectNoMsg(Settle * 3);
        Assert.DoesNotContain(Status(coordinator).Devices, d => d.Device.Key == stranger.Key);

        // A worker resends its registration until it hears back: a repeat is accepted again and changes nothing.
        coordinator.Tell(Registration(a), a.Worker.Ref);
        Assert.True(a.Worker.ExpectMsg<PlacementMessages.DeviceRegistered>().Accepted);
        a.Worker.ExpectNoMsg(Settle * 3);
        Assert.Equal(1, Plan(coordinator).PlanVersion);
    }

    [Fact]
    public void Registered_devices_are_assigned_all_units_and_the_table_is_published_as_they_load_with_growing_versions()
    {
        var coordinator = StartCoordinator();
        var (a, b) = Two(JoinAll(coordinator, "m1", "m2"));

        // One plan for both (they registered within the settle time), covering every unit exactly once.
        var toA = a.Worker.ExpectMsg<PlacementMessages.AssignUnits>();
        var toB = b.Worker.ExpectMsg<PlacementMessages.AssignUnits>();
        Assert.Equal((1L, 1L), (toA.Version, toB.Version));
        Assert.Equal(Enumerable.Range(0, Model.UnitCount), new[] { toA.Range, toB.Range }.SelectMany(r => Enumerable.Range(r.Start, r.Count)).Order());

        // Each unit comes with where its file can be pulled from: every node holding it, the coordinator's included.
        foreach (var (d, assign) in new[] { (a, toA), (b, toB) })
        {
            Assert.Equal(Enumerable.Range(assign.Range.Start, assign.Range.Count), assign.Sources.Select(s => s.Unit));
            foreach (var source in assign.Sources)
            {
                Assert.Contains(a.Units.Ref, source.Holders);
                Assert.Contains(b.Units.Ref, source.Holders);
                Assert.Equal(CoordinatorUnits.Contains(source.Unit), source.Holders.Contains(LocalUnitServer.Ref));
            }
        }

        // Nothing is routable until loaded; then each range is published as soon as its device reports it.
        var loading = Routes(coordinator);
        Assert.Empty(loading.Stages);
        Assert.True(loading.Loading);
        Loaded(coordinator, a, toA);
        Assert.Equal([$"{a.Key} {toA.Range}"], Stages(Routes(coordinator)));
        Loaded(coordinator, b, toB);

        var table = Routes(coordinator);
        Assert.Equal(new[] { $"{a.Key} {toA.Range}", $"{b.Key} {toB.Range}" }.Order(), Stages(table));
        Assert.Equal((PlacementStatus.Complete, false), (table.Status, table.Loading));
        Assert.Equal(Model.UnitCount, table.UnitCount);
        Assert.True(Covers(table));
        Assert.Equal(a.Worker.Ref, table.Stages.Single(s => s.Device.Key == a.Key).Worker);
        var plan = Plan(coordinator);
        Assert.True(plan.RolloutComplete);
        Assert.Equal(table.Version, plan.RouteVersion);

        // Every change went out on the routes topic, versions growing, the last being the one GetRoutes gives.
        var published = Published();
        Assert.True(published.Count >= 3);
        Assert.All(published.Zip(published.Skip(1)), p => Assert.True(p.Second.Version > p.First.Version));
        Assert.Equal(table.Version, published[^1].Version);
        Assert.Equal(Stages(table), Stages(published[^1]));

        // Nothing to release after a first rollout.
        a.Worker.ExpectNoMsg(TimeSpan.Zero);
        b.Worker.ExpectNoMsg(TimeSpan.Zero);
    }

    [Fact]
    public void Its_tables_carry_its_epoch_and_a_coordinator_started_after_it_has_a_newer_one()
    {
        var coordinator = StartCoordinator();
        var empty = Routes(coordinator);
        Assert.Equal(0, empty.Version);
        Assert.NotEqual(0, empty.Epoch);
        RollOut(coordinator, JoinAll(coordinator, "m1", "m2"));
        var table = Routes(coordinator);
        Assert.True(Covers(table));
        Assert.All(Published(), t => Assert.Equal(empty.Epoch, t.Epoch));

        // As after the singleton moved (or restarted): its versions start again, under a newer epoch.
        var successor = Routes(StartCoordinator());
        Assert.True(successor.Epoch > table.Epoch);
        Assert.True((successor with { Version = 1 }).IsNewerThan(table));
    }

    [Fact]
    public void Devices_that_register_already_serving_their_planned_ranges_are_published_without_being_asked_to_load()
    {
        // As after a coordinator hand-over: the workers register with what they have loaded.
        var coordinator = StartCoordinator();
        var a = NewDevice("m1");
        var b = NewDevice("m2");
        coordinator.Tell(Registration(a, serving: [new UnitRange(0, 4)]), a.Worker.Ref);
        coordinator.Tell(Registration(b, serving: [new UnitRange(4, 7)]), b.Worker.Ref);
        Assert.True(a.Worker.ExpectMsg<PlacementMessages.DeviceRegistered>().Accepted);
        Assert.True(b.Worker.ExpectMsg<PlacementMessages.DeviceRegistered>().Accepted);
        AwaitAssert(() => Assert.Equal(1, Plan(coordinator).PlanVersion));

        var table = Routes(coordinator);
        Assert.Equal(new[] { $"{a.Key} [0, 4)", $"{b.Key} [4, 7)" }.Order(), Stages(table));
        Assert.Equal((PlacementStatus.Complete, false), (table.Status, table.Loading));
        a.Worker.ExpectNoMsg(TimeSpan.Zero);
        b.Worker.ExpectNoMsg(TimeSpan.Zero);
    }

    [Fact]
    public void A_load_report_from_an_unknown_device_is_answered_with_a_refusal_that_makes_it_register_again()
    {
        var coordinator = StartCoordinator();
        var unknown = NewDevice("m7");
        coordinator.Tell(new PlacementMessages.StageLoad(unknown.Key, 1, 0, 3.5), unknown.Worker.Ref);
        var answer = unknown.Worker.ExpectMsg<PlacementMessages.DeviceRegistered>();
        Assert.Equal(unknown.Key, answer.DeviceKey);
        Assert.False(answer.Accepted);
        Assert.Contains("unknown device", answer.Reason);

        // A known device's report is taken in silently.
        var a = Join(coordinator, "m1");
        coordinator.Tell(new PlacementMessages.StageLoad(a.Key, 1, 0, 3.5), a.Worker.Ref);
        a.Worker.ExpectMsg<PlacementMessages.AssignUnits>();
        a.Worker.ExpectNoMsg(Settle);
    }

    [Fact]
    public void The_status_reports_devices_ranges_load_and_redundancy_asked_and_achieved_with_the_reasons()
    {
        var coordinator = StartCoordinator(redundancy: 2);
        var (a, b) = Two(JoinAll(coordinator, "m1", "m2"));
        var assigned = RollOut(coordinator, a, b);
        Assert.All(assigned.Values, x => Assert.Equal(UnitRange.Whole(Model.Layers), x.Range));
        coordinator.Tell(new PlacementMessages.StageLoad(a.Key, 3, 1, 12.5), a.Worker.Ref);

        var status = Status(coordinator);
        Assert.Equal((Model.UnitCount, Model.Layers, 2, 2, PlacementStatus.Complete), (status.UnitCount, status.Layers, status.RedundancyRequested, status.RedundancyAchieved, status.PlacementStatus));
        Assert.Equal(Routes(coordinator).Version, status.RouteVersion);
        Assert.Empty(status.Members);
        Assert.Equal([a.Key, b.Key], status.Devices.Select(d => d.Device.Key));
        Assert.All(status.Devices, d => Assert.Equal((UnitRange.Whole(Model.Layers), UnitRange.Whole(Model.Layers)), (d.Assigned, d.Serving)));
        Assert.Equal([0, 1], status.Devices.Select(d => d.ReplicaGroup).Order());
        var loadOfA = status.Devices[0];
        Assert.Equal((3, 1, 12.5), (loadOfA.ActiveSessions, loadOfA.Queued, loadOfA.TokensPerSecond));

        // One machine left: the plan is degraded, and the status says why.
        Sys.Stop(b.Worker.Ref);
        AwaitAssert(() =>
        {
            var degraded = Status(coordinator);
            Assert.Equal((2, 1, PlacementStatus.Degraded), (degraded.RedundancyRequested, degraded.RedundancyAchieved, degraded.PlacementStatus));
            Assert.Equal([a.Key], degraded.Devices.Select(d => d.Device.Key));
            Assert.Contains(degraded.Notes, n => n.Contains("redundancy 2 asked, 1 achieved", StringComparison.Ordinal));
        });
    }

    private static (Device, Device) Two(Device[] d) => (d[0], d[1]);
}
