using ActorLlm.Protocol;
using ActorLlm.Protocol.Messages;
using Xunit;

namespace ActorLlm.Cluster.Tests.Actors.Placement;

/// <summary>
/// Re-planning on join, leave and failed loads: only devices whose range changes are asked to load, old ranges stay
/// routable until every changed device has loaded (make-before-break), and only then are they released.
/// </summary>
public sealed class PlacementCoordinatorChangeTests : PlacementCoordinatorSpec
{
    [Fact]
    public void A_joining_device_moves_only_the_affected_ranges_and_the_old_ones_are_released_only_after_every_changed_device_loaded()
    {
        var coordinator = StartCoordinator();
        var first = JoinAll(coordinator, "m1", "m2");
        RollOut(coordinator, first);
        var before = Plan(coordinator).Plan!;

        var c = Join(coordinator, "m3");
        AwaitAssert(() => Assert.Equal(2, Plan(coordinator).PlanVersion));
        var after = Plan(coordinator).Plan!;
        Device[] all = [.. first, c];
        var changed = all.Where(d => after.AssignmentOf(d.Key)?.Range != before.AssignmentOf(d.Key)?.Range).ToList();
        var unchanged = all.Except(changed).ToList();
        Assert.Contains(c, changed);
        Assert.NotEmpty(unchanged);
        Assert.True(changed.Count >= 2, "the newcomer takes units from someone");

        var assigned = changed.ToDictionary(d => d, d => d.Worker.ExpectMsg<PlacementMessages.AssignUnits>());
        Assert.All(assigned, p => Assert.Equal((2L, after.AssignmentOf(p.Key.Key)!.Range), (p.Value.Version, p.Value.Range)));
        unchanged.ForEach(d => d.Worker.ExpectNoMsg(Settle * 2));

        // All but one changed device have loaded: the old ranges are still published beside the new ones, no table
        // since the first complete one has had a gap, and nothing has been released.
        foreach (var d in changed.Skip(1))
        {
            Loaded(coordinator, d, assigned[d]);
        }

        var midway = Routes(coordinator);
        foreach (var d in first)
        {
            Assert.Contains($"{d.Key} {before.AssignmentOf(d.Key)!.Range}", Stages(midway));
        }

        foreach (var d in changed.Skip(1))
        {
            Assert.Contains($"{d.Key} {assigned[d].Range}", Stages(midway));
        }

        Assert.True(midway.Loading);
        Assert.All(Published().SkipWhile(t => !Covers(t)), t => Assert.True(Covers(t), string.Join(", ", Stages(t))));
        Assert.All(all, d => d.Worker.ExpectNoMsg(TimeSpan.Zero));

        // The last one loads: each range the new plan no longer uses is released, and the table is the new plan.
        Loaded(coordinator, changed[0], assigned[changed[0]]);
        var final = Routes(coordinator);
        foreach (var d in first.Where(changed.Contains))
        {
            var release = d.Worker.ExpectMsg<PlacementMessages.ReleaseUnits>();
            Assert.Equal((2L, before.AssignmentOf(d.Key)!.Range), (release.Version, release.Range));
        }

        Assert.All(all, d => d.Worker.ExpectNoMsg(TimeSpan.Zero));
        Assert.Equal(Stages(after), Stages(final));
        Assert.Equal((PlacementStatus.Complete, false), (final.Status, final.Loading));
        Assert.All(Published().SkipWhile(t => !Covers(t)), t => Assert.True(Covers(t), string.Join(", ", Stages(t))));
        Assert.Equal(final.Version, Published()[^1].Version);
    }

    [Fact]
    public void A_worker_that_stops_leaves_the_table_at_once_and_the_rest_are_reassigned_to_cover_every_unit()
    {
        var coordinator = StartCoordinator();
        var devices = JoinAll(coordinator, "m1", "m2", "m3");
        RollOut(coordinator, devices);
        var before = Plan(coordinator).Plan!;
        var gone = devices[1];
        var rest = devices.Where(d => d != gone).ToList();

        Sys.Stop(gone.Worker.Ref);
        AwaitAssert(() => Assert.Equal(2, Plan(coordinator).PlanVersion));
        var afterLeave = Routes(coordinator);
        Assert.DoesNotContain(afterLeave.Stages, s => s.Device.Key == gone.Key);
        Assert.False(Covers(afterLeave));

        var after = Plan(coordinator).Plan!;
        Assert.Equal(1, after.UnitReplicas.Min());
        Assert.True(afterLeave.Loading);
        Assert.Null(after.AssignmentOf(gone.Key));
        foreach (var d in rest)
        {
            var range = after.AssignmentOf(d.Key)!.Range;
            if (range == before.AssignmentOf(d.Key)!.Range)
            {
                d.Worker.ExpectNoMsg(Settle);
                continue;
            }

            var assign = d.Worker.ExpectMsg<PlacementMessages.AssignUnits>();
            Assert.Equal((2L, range), (assign.Version, assign.Range));
            Loaded(coordinator, d, assign);
        }

        AwaitAssert(() => Assert.True(Plan(coordinator).RolloutComplete));
        foreach (var d in rest.Where(d => after.AssignmentOf(d.Key)!.Range != before.AssignmentOf(d.Key)!.Range))
        {
            Assert.Equal(before.AssignmentOf(d.Key)!.Range, d.Worker.ExpectMsg<PlacementMessages.ReleaseUnits>().Range);
        }

        var final = Routes(coordinator);
        Assert.True(Covers(final));
        Assert.Equal(Stages(after), Stages(final));
        Assert.All(final.Stages, s => Assert.NotEqual(gone.Key, s.Device.Key));
    }

    [Fact]
    public void A_device_that_fails_to_load_sits_out_the_others_are_replanned_and_it_returns_when_it_registers_again()
    {
        var coordinator = StartCoordinator();
        var devices = JoinAll(coordinator, "m1", "m2", "m3");
        var failing = devices[1];
        var rest = devices.Where(d => d != failing).ToList();
        var first = devices.ToDictionary(d => d, d => d.Worker.ExpectMsg<PlacementMessages.AssignUnits>());

        coordinator.Tell(new PlacementMessages.UnitsLoadFailed(failing.Key, 1, first[failing].Range, "disk full"), failing.Worker.Ref);
        AwaitAssert(() => Assert.Equal(2, Plan(coordinator).PlanVersion));
        var plan = Plan(coordinator).Plan!;
        Assert.Null(plan.AssignmentOf(failing.Key));
        Assert.Equal(1, plan.UnitReplicas.Min());

        // Nobody had loaded anything yet, so every device of the new plan is (re)assigned; version 1 is stale.
        foreach (var d in rest)
        {
            var assign = d.Worker.FishForMessage<PlacementMessages.AssignUnits>(a => a.Version == 2);
            Assert.Equal(plan.AssignmentOf(d.Key)!.Range, assign.Range);
            Loaded(coordinator, d, assign);
        }

        AwaitAssert(() => Assert.True(Plan(coordinator).RolloutComplete));
        var table = Routes(coordinator);
        Assert.True(Covers(table));
        Assert.DoesNotContain(table.Stages, s => s.Device.Key == failing.Key);
        failing.Worker.ExpectNoMsg(TimeSpan.Zero);
        var status = Status(coordinator);
        Assert.Contains("m2:cpu sits out: disk full", status.Notes);
        Assert.Null(status.Devices.Single(d => d.Device.Key == failing.Key).Assigned);

        // Registering again (e.g. after its node restarted) puts it back into plans.
        coordinator.Tell(Registration(failing), failing.Worker.Ref);
        Assert.True(failing.Worker.ExpectMsg<PlacementMessages.DeviceRegistered>().Accepted);
        AwaitAssert(() => Assert.NotNull(Plan(coordinator).Plan!.AssignmentOf(failing.Key)));
        failing.Worker.ExpectMsg<PlacementMessages.AssignUnits>();
        Assert.DoesNotContain(Status(coordinator).Notes, n => n.Contains("sits out", StringComparison.Ordinal));
    }

    [Fact]
    public void A_worker_that_registers_again_without_its_range_is_assigned_it_again()
    {
        // As after the worker actor restarted: same actor, same device, nothing loaded any more.
        var coordinator = StartCoordinator();
        var devices = JoinAll(coordinator, "m1", "m2");
        var assigned = RollOut(coordinator, devices);
        var restarted = devices[0];

        coordinator.Tell(Registration(restarted), restarted.Worker.Ref);
        Assert.True(restarted.Worker.ExpectMsg<PlacementMessages.DeviceRegistered>().Accepted);
        Assert.DoesNotContain(Routes(coordinator).Stages, s => s.Device.Key == restarted.Key);

        var again = restarted.Worker.ExpectMsg<PlacementMessages.AssignUnits>();
        Assert.Equal(assigned[restarted].Range, again.Range);
        Loaded(coordinator, restarted, again);
        AwaitAssert(() => Assert.True(Covers(Routes(coordinator))));
        devices[1].Worker.ExpectNoMsg(TimeSpan.Zero);
    }
}
