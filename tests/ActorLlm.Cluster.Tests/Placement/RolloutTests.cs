using ActorLlm.Cluster.Placement;
using ActorLlm.Protocol;
using Xunit;
using static ActorLlm.Cluster.Placement.RolloutCommand;

namespace ActorLlm.Cluster.Tests.Placement;

/// <summary>
/// The rollout state machine by example, on a model of 7 units: plan v1 gives A [0, 4) and B [4, 7); plan v2 moves
/// [2, 4) from A to a newcomer C.
/// </summary>
public sealed class RolloutTests
{
    private static readonly DeviceKey s_a = Key("a");
    private static readonly DeviceKey s_b = Key("b");
    private static readonly DeviceKey s_c = Key("c");
    private static readonly DateTime s_t0 = new(2026, 12, 1, 12, 0, 0, DateTimeKind.Utc);
    private static readonly TimeSpan s_timeout = TimeSpan.FromMinutes(10);

    private static readonly PlacementPlan s_v1 = Plan((s_a, 0, 4), (s_b, 4, 7));
    private static readonly PlacementPlan s_v2 = Plan((s_a, 0, 2), (s_c, 2, 4), (s_b, 4, 7));

    [Fact]
    public void A_first_plan_asks_every_device_to_load_its_range_and_publishes_the_loading_status()
    {
        var step = Rollout.Apply(RolloutState.Initial, new RolloutEvent.PlanMade(s_v1, s_t0), Serving((s_a, []), (s_b, [])));

        var loading = Assert.IsType<RolloutState.Loading>(step.State);
        Assert.Equal((1L, s_t0), (loading.Version, loading.Started));
        Assert.Equal([s_a, s_b], loading.Waiting);
        Assert.Same(s_v1, loading.Plan);
        Assert.Equal(
            [new ReportPlan(1, s_v1), new Assign(s_a, 1, R(0, 4)), new Assign(s_b, 1, R(4, 7)), new PublishRoutes()],
            step.Commands);
    }

    [Fact]
    public void A_plan_the_devices_already_serve_is_in_place_at_once_and_releases_what_it_does_not_use()
    {
        // As after a coordinator hand-over: the workers registered with what they serve.
        var step = Rollout.Apply(RolloutState.Initial, new RolloutEvent.PlanMade(s_v1, s_t0), Serving((s_a, [R(0, 4), R(0, 7)]), (s_b, [R(4, 7)])));

        Assert.Equal(new RolloutState.Released(1, s_v1), step.State);
        Assert.Equal(
            [new ReportPlan(1, s_v1), new Release(s_a, 1, R(0, 7)), new StopServing(s_a, R(0, 7)), new ReportInPlace(1), new PublishRoutes()],
            step.Commands);
    }

    [Fact]
    public void The_same_plan_needs_no_new_rollout_while_it_is_in_place_and_every_device_serves_its_range()
    {
        var inPlace = new RolloutState.Released(1, s_v1);
        var same = Plan((s_a, 0, 4), (s_b, 4, 7));
        Assert.NotSame(s_v1, same);

        var unchanged = Rollout.Apply(inPlace, new RolloutEvent.PlanMade(same, s_t0), Serving((s_a, [R(0, 4)]), (s_b, [R(4, 7)])));
        Assert.Same(inPlace, unchanged.State);
        Assert.Empty(unchanged.Commands);

        // A device that registered again without its range: the same plan rolls out again, for that device only.
        var again = Rollout.Apply(inPlace, new RolloutEvent.PlanMade(same, s_t0), Serving((s_a, []), (s_b, [R(4, 7)])));
        var loading = Assert.IsType<RolloutState.Loading>(again.State);
        Assert.Equal(2, loading.Version);
        Assert.Equal([s_a], loading.Waiting);
        Assert.Contains(new Assign(s_a, 2, R(0, 4)), again.Commands);

        // A rollout still loading is restarted under a new version, even for the same plan.
        var restarted = Rollout.Apply(loading, new RolloutEvent.PlanMade(same, s_t0), Serving((s_a, []), (s_b, [R(4, 7)])));
        Assert.Equal(3, restarted.State.Version);
        Assert.True(restarted.State.IsLoading);
    }

    [Fact]
    public void Each_range_is_served_as_it_loads_and_the_last_one_releases_every_range_that_is_not_a_target()
    {
        var serving = Serving((s_a, [R(0, 4)]), (s_b, [R(4, 7)]), (s_c, []));
        var start = Rollout.Apply(new RolloutState.Released(1, s_v1), new RolloutEvent.PlanMade(s_v2, s_t0), serving);
        var loading = Assert.IsType<RolloutState.Loading>(start.State);
        Assert.Equal([s_a, s_c], loading.Waiting);
        Assert.DoesNotContain(start.Commands, c => c is Release or StopServing);

        // C loads: served at once beside A's old range, which stays.
        var first = Rollout.Apply(loading, new RolloutEvent.UnitsLoaded(s_c, 2, R(2, 4)), serving);
        Assert.Equal([new Serve(s_c, R(2, 4)), new ReportLoaded(s_c, 2, R(2, 4), 1), new PublishRoutes()], first.Commands);
        Assert.Equal([s_a], Assert.IsType<RolloutState.Loading>(first.State).Waiting);

        // A loads its smaller range: the rollout is complete, A's old range goes.
        serving = Serving((s_a, [R(0, 4)]), (s_b, [R(4, 7)]), (s_c, [R(2, 4)]));
        var last = Rollout.Apply(first.State, new RolloutEvent.UnitsLoaded(s_a, 2, R(0, 2)), serving);
        Assert.Equal(new RolloutState.Released(2, s_v2), last.State);
        Assert.Equal(
            [new Serve(s_a, R(0, 2)), new ReportLoaded(s_a, 2, R(0, 2), 0), new Release(s_a, 2, R(0, 4)), new StopServing(s_a, R(0, 4)), new ReportInPlace(2), new PublishRoutes()],
            last.Commands);
    }

    [Fact]
    public void A_load_an_older_plan_asked_for_is_released_once_no_rollout_waits_on_the_device()
    {
        var inPlace = new RolloutState.Released(2, s_v2);
        var serving = Serving((s_a, [R(0, 2)]), (s_b, [R(4, 7)]), (s_c, [R(2, 4)]));

        // Not what v2 gives A: released at once (with the current version), never served, nothing to publish.
        Assert.Equal([new Release(s_a, 2, R(0, 4))], Rollout.Apply(inPlace, new RolloutEvent.UnitsLoaded(s_a, 1, R(0, 4)), serving).Commands);
        Assert.True(Rollout.IsSuperseded(inPlace, s_a, 1, R(0, 4)));

        // What v2 gives A, whatever the version: served.
        Assert.Equal([new Serve(s_a, R(0, 2)), new PublishRoutes()], Rollout.Apply(inPlace, new RolloutEvent.UnitsLoaded(s_a, 1, R(0, 2)), serving).Commands);

        // While v3 loads: an old load of a device v3 gives a range is kept (released with the rest when v3 is in
        // place); one of a device v3 gives nothing is released at once.
        var v3 = Plan((s_a, 0, 3), (s_c, 3, 4), (s_b, 4, 7));
        var loading = new RolloutState.Loading(3, v3, [s_a, s_c], s_t0);
        Assert.False(Rollout.IsSuperseded(loading, s_a, 1, R(0, 4)));
        Assert.Equal([new Serve(s_a, R(0, 4)), new PublishRoutes()], Rollout.Apply(loading, new RolloutEvent.UnitsLoaded(s_a, 1, R(0, 4)), serving).Commands);
        var withoutC = new RolloutState.Loading(3, Plan((s_a, 0, 4), (s_b, 4, 7)), [s_a], s_t0);
        Assert.Equal([new Release(s_c, 3, R(2, 4))], Rollout.Apply(withoutC, new RolloutEvent.UnitsLoaded(s_c, 2, R(2, 4)), serving).Commands);

        // Before any plan, any load is served.
        Assert.Equal([new Serve(s_a, R(0, 4)), new PublishRoutes()], Rollout.Apply(RolloutState.Initial, new RolloutEvent.UnitsLoaded(s_a, 7, R(0, 4)), serving).Commands);
    }

    [Fact]
    public void A_load_of_the_current_plan_that_it_does_not_wait_for_is_served_without_advancing_the_rollout()
    {
        var loading = new RolloutState.Loading(2, s_v2, [s_a, s_c], s_t0);
        var step = Rollout.Apply(loading, new RolloutEvent.UnitsLoaded(s_c, 2, R(2, 3)), Serving((s_a, []), (s_b, []), (s_c, [])));
        Assert.Same(loading, step.State);
        Assert.Equal([new Serve(s_c, R(2, 3)), new PublishRoutes()], step.Commands);
    }

    [Fact]
    public void A_failed_load_of_the_current_plan_marks_the_device_failed_and_replans_at_once_and_an_older_one_is_ignored()
    {
        var loading = new RolloutState.Loading(2, s_v2, [s_a, s_c], s_t0);
        var serving = Serving((s_a, [R(0, 4)]), (s_b, [R(4, 7)]), (s_c, []));

        // A device of the plan fails: the plan cannot be in place as a whole, so the rollout is interrupted at once
        // (nothing released) and the re-plan takes over.
        var failed = Rollout.Apply(loading, new RolloutEvent.UnitsLoadFailed(s_c, 2, R(2, 4), "disk full"), serving);
        Assert.Equal(new RolloutState.Interrupted(2, s_v2), failed.State);
        Assert.False(failed.State.IsLoading);
        Assert.Equal(
            [new ReportLoadFailed(s_c, R(2, 4), "disk full"), new MarkFailed(s_c, "disk full"), new ReplanNow(), new StartFailedCooldown()],
            failed.Commands);

        // The other device's load, arriving before the re-plan, is served but completes nothing: no release.
        var late = Rollout.Apply(failed.State, new RolloutEvent.UnitsLoaded(s_a, 2, R(0, 2)), serving);
        Assert.Equal(new RolloutState.Interrupted(2, s_v2), late.State);
        Assert.DoesNotContain(late.Commands, c => c is Release or StopServing or ReportInPlace);

        Assert.Empty(Rollout.Apply(loading, new RolloutEvent.UnitsLoadFailed(s_c, 1, R(2, 4), "late"), serving).Commands);
        Assert.Empty(Rollout.Apply(RolloutState.Initial, new RolloutEvent.UnitsLoadFailed(s_c, 0, R(2, 4), "none"), serving).Commands);
    }

    [Fact]
    public void Devices_that_leave_no_longer_hold_the_rollout_up_and_the_table_and_plan_follow()
    {
        var loading = new RolloutState.Loading(2, s_v2, [s_a, s_c], s_t0);

        // A device the plan gives a range to leaves: the rollout cannot complete as planned; interrupted.
        var one = Rollout.Apply(loading, new RolloutEvent.DevicesLeft([s_c]), Serving());
        Assert.Equal(new RolloutState.Interrupted(2, s_v2), one.State);
        Assert.Equal([new PublishRoutes(), new ReplanNow()], one.Commands);

        Assert.Equal(new RolloutState.Interrupted(2, s_v2), Rollout.Apply(loading, new RolloutEvent.DevicesLeft([s_a, s_c]), Serving()).State);
        Assert.Empty(Rollout.Apply(loading, new RolloutEvent.DevicesLeft([]), Serving()).Commands);

        // A spare (the plan gives it nothing) leaving holds nothing up: still loading, still waiting for a and c.
        var spare = Rollout.Apply(loading, new RolloutEvent.DevicesLeft([Key("spare")]), Serving());
        Assert.Equal([s_a, s_c], Assert.IsType<RolloutState.Loading>(spare.State).Waiting);
    }

    [Fact]
    public void The_resend_tick_resends_what_is_still_loading_and_after_the_load_timeout_drops_the_late_devices()
    {
        var loading = new RolloutState.Loading(2, s_v2, [s_a, s_c], s_t0);

        var resend = Rollout.Apply(loading, new RolloutEvent.ResendDue(s_t0 + s_timeout, s_timeout), Serving());
        Assert.Same(loading, resend.State);
        Assert.Equal([new Assign(s_a, 2, R(0, 2)), new Assign(s_c, 2, R(2, 4))], resend.Commands);

        var late = Rollout.Apply(loading, new RolloutEvent.ResendDue(s_t0 + s_timeout + TimeSpan.FromTicks(1), s_timeout), Serving());
        Assert.Equal(new RolloutState.Interrupted(2, s_v2), late.State);
        Assert.Equal(
            [new MarkFailed(s_a, "did not load its range within 00:10:00"), new MarkFailed(s_c, "did not load its range within 00:10:00"), new ReplanNow()],
            late.Commands);

        Assert.Empty(Rollout.Apply(new RolloutState.Released(2, s_v2), new RolloutEvent.ResendDue(s_t0, s_timeout), Serving()).Commands);
        Assert.Empty(Rollout.Apply(RolloutState.Initial, new RolloutEvent.ResendDue(s_t0, s_timeout), Serving()).Commands);
    }

    [Fact]
    public void The_state_says_what_the_route_table_and_the_plan_query_report()
    {
        Assert.Equal((0L, null, PlacementStatus.NoPlan, false), (RolloutState.Initial.Version, RolloutState.Initial.Plan, RolloutState.Initial.Status, RolloutState.Initial.IsLoading));
        var loading = new RolloutState.Loading(2, s_v2, [s_a], s_t0);
        Assert.Equal((PlacementStatus.Complete, true, R(2, 4)), (loading.Status, loading.IsLoading, loading.Target(s_c)));
        Assert.Null(new RolloutState.Released(1, s_v1).Target(s_c));
    }

    private static DeviceKey Key(string machine) => new(new NodeAddress($"akka.tcp://pool@{machine}:2552"), "cpu");

    private static UnitRange R(int start, int end) => new(start, end);

    private static PlacementPlan Plan(params (DeviceKey Device, int Start, int End)[] assignments) =>
        PlacementPlan.FromAssignments(7, 1, assignments.Select(a => new DeviceAssignment(a.Device, 0, R(a.Start, a.End))), []);

    private static Dictionary<DeviceKey, IReadOnlySet<UnitRange>> Serving(params (DeviceKey Device, UnitRange[] Ranges)[] devices) =>
        devices.ToDictionary(d => d.Device, d => (IReadOnlySet<UnitRange>)d.Ranges.ToHashSet());
}
