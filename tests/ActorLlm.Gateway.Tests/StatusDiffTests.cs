using ActorLlm.Gateway.Dashboard;
using ActorLlm.Protocol;
using Xunit;
using static ActorLlm.Gateway.Tests.Statuses;

namespace ActorLlm.Gateway.Tests;

public sealed class StatusDiffTests
{
    [Fact]
    public void The_first_status_is_one_summary_line()
    {
        var s = Status(2, PlacementStatus.Complete, Device("worker-1", R(0, 7), R(0, 7)));
        var c = Assert.Single(StatusDiff.Between(null, s));
        Assert.Equal(PoolEventKind.Info, c.Kind);
        Assert.Equal("watching the pool: Complete; route version 2; 1 device; redundancy 1 of 1", c.Message);
    }

    [Fact]
    public void The_same_status_twice_is_no_event()
    {
        var s = Status(2, PlacementStatus.Complete, Device("worker-1", R(0, 7), R(0, 7), sessions: 3));
        var again = s with { Devices = [s.Devices[0] with { ActiveSessions = 5, Queued = 2, TokensPerSecond = 180 }] };
        Assert.Empty(StatusDiff.Between(s, again));
    }

    [Fact]
    public void A_worker_joining_is_a_registration_then_a_new_placement_loading_then_its_end()
    {
        var one = Status(2, PlacementStatus.Complete, Device("worker-1", R(0, 7), R(0, 7)));
        var registered = Status(2, PlacementStatus.Complete, Device("worker-1", R(0, 7), R(0, 7)), Device("worker-2", null, null, group: -1));
        var planned = Status(2, PlacementStatus.Complete, Device("worker-1", R(0, 4), R(0, 7)), Device("worker-2", R(4, 7), null));
        var done = Status(3, PlacementStatus.Complete, Device("worker-1", R(0, 4), R(0, 4)), Device("worker-2", R(4, 7), R(4, 7)));

        var join = Assert.Single(StatusDiff.Between(one, registered));
        Assert.Equal(PoolEventKind.Join, join.Kind);
        Assert.StartsWith("worker-2:cpu registered: 8.0 GiB, 1000 layers/s, F32", join.Message);

        var plan = Assert.Single(StatusDiff.Between(registered, planned));
        Assert.Equal(PoolEventKind.Rollout, plan.Kind);
        Assert.True(plan.NewPlan);
        Assert.Equal("new placement (loading): worker-1:cpu [begin..end] → [begin..layer.2]; worker-2:cpu spare → [layer.3..end]", plan.Message);

        var end = StatusDiff.Between(planned, done);
        Assert.Equal(2, end.Count);
        Assert.Equal(new StatusChange(PoolEventKind.Rollout, "rollout finished: every device serves its assignment (route version 3)"), end[0]);
        Assert.Equal(new StatusChange(PoolEventKind.Placement, "route version 2 → 3"), end[1]);
        Assert.False(end[0].NewPlan);
    }

    [Fact]
    public void A_plan_already_served_by_the_next_poll_is_one_new_placement_with_its_route_version()
    {
        var one = Status(2, PlacementStatus.Complete, Device("worker-1", R(0, 7), R(0, 7)));
        var two = Status(4, PlacementStatus.Complete, Device("worker-1", R(0, 4), R(0, 4)), Device("worker-2", R(4, 7), R(4, 7)));
        var changes = StatusDiff.Between(one, two);
        Assert.Equal([PoolEventKind.Join, PoolEventKind.Rollout, PoolEventKind.Placement], changes.Select(c => c.Kind));
        Assert.Equal("new placement (already serving): worker-1:cpu [begin..end] → [begin..layer.2]; worker-2:cpu new → [layer.3..end]", changes[1].Message);
        Assert.Equal("route version 2 → 4", changes[2].Message);
    }

    [Fact]
    public void A_worker_leaving_is_a_leave_and_the_placement_status_change_says_what_it_left()
    {
        var two = Status(4, PlacementStatus.Complete, Device("worker-1", R(0, 4), R(0, 4)), Device("worker-2", R(4, 7), R(4, 7)));
        var gone = Status(5, PlacementStatus.Insufficient, Device("worker-1", R(0, 4), R(0, 4)));
        var changes = StatusDiff.Between(two, gone);
        Assert.Equal(2, changes.Count);
        Assert.Equal(new StatusChange(PoolEventKind.Leave, "worker-2:cpu is gone; it served [layer.3..end]"), changes[0]);
        Assert.Equal(PoolEventKind.Placement, changes[1].Kind);
        Assert.StartsWith("placement Complete → Insufficient; route version 5", changes[1].Message);
    }

    [Fact]
    public void A_device_released_to_spare_is_part_of_the_new_placement()
    {
        var before = Status(4, PlacementStatus.Complete, Device("worker-1", R(0, 7), R(0, 7)), Device("worker-2", R(0, 7), R(0, 7), group: 1));
        var after = Status(4, PlacementStatus.Complete, Device("worker-1", R(0, 7), R(0, 7)), Device("worker-2", null, R(0, 7), group: -1));
        var c = Assert.Single(StatusDiff.Between(before, after));
        Assert.Equal("new placement (loading): worker-2:cpu [begin..end] → spare", c.Message);
        Assert.True(StatusDiff.RollingOut(after));
        Assert.False(StatusDiff.RollingOut(before));
    }

    [Fact]
    public void New_notes_are_events_and_old_ones_are_not_repeated()
    {
        var s = Status(2, PlacementStatus.Degraded, Device("worker-1", R(0, 7), R(0, 7))) with { Notes = ["redundancy 2 asked, 1 machine"] };
        var later = s with { Notes = ["redundancy 2 asked, 1 machine", "worker-9 has too little memory"] };
        Assert.Equal([new StatusChange(PoolEventKind.Info, "worker-9 has too little memory")], StatusDiff.Between(s, later));
    }

    [Fact]
    public void Ranges_are_named_by_unit_and_a_range_the_layers_cannot_name_stays_numeric()
    {
        Assert.Equal("[begin..layer.1]", StatusDiff.Range(R(0, 3), 5));
        Assert.Equal("[layer.4..end]", StatusDiff.Range(R(5, 7), 5));
        Assert.Equal("spare", StatusDiff.Range(null, 5));
        Assert.Equal("[3, 40)", StatusDiff.Range(R(3, 40), 5));
    }

    [Fact]
    public void Nodes_are_named_by_machine_where_it_is_known()
    {
        Assert.Equal("worker-1 (worker, akka.tcp://actorllm@10.0.0.2:4051)", PoolEventText.Node("akka.tcp://actorllm@10.0.0.2:4051", ["worker"], "worker-1"));
        Assert.Equal("gateway node akka.tcp://actorllm@10.0.0.1:4050", PoolEventText.Node("akka.tcp://actorllm@10.0.0.1:4050", ["gateway"], null));
        Assert.Equal("node x", PoolEventText.Node("x", [], ""));
    }
}
