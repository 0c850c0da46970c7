using ActorLlm.Cluster.Placement;
using ActorLlm.Protocol;
using Xunit;
using static ActorLlm.Cluster.Tests.Placement.Pools;

namespace ActorLlm.Cluster.Tests.Placement;

public class PlannerExampleTests
{
    [Fact]
    public void Rule1_every_unit_is_covered_by_one_contiguous_pipeline()
    {
        var devices = new[] { Gpu("a", 0, 24), Gpu("b", 0, 24), Gpu("c", 0, 24) };
        var units = Model(10);

        var plan = Planner.Plan(devices, units, redundancy: 1, previous: null, options: null);

        PlanInvariants.Check(plan, devices, units, 1);
        Assert.Equal(PlacementStatus.Complete, plan.Status);
        var pipeline = plan.Pipeline(0).ToList();
        Assert.Equal(3, pipeline.Count);
        Assert.Equal(0, pipeline[0].Range.Start);
        Assert.Equal(pipeline[0].Range.End, pipeline[1].Range.Start);
        Assert.Equal(pipeline[1].Range.End, pipeline[2].Range.Start);
        Assert.Equal(units.Count, pipeline[2].Range.End);
        Assert.Empty(plan.Spares);
        Assert.True(plan.IsFresh);
    }

    [Fact]
    public void Rule1_more_devices_than_units_leaves_the_rest_spare()
    {
        var devices = Enumerable.Range(0, 8).Select(i => Gpu("a", i, 24)).ToList();
        var units = Model(3);

        var plan = Planner.Plan(devices, units, 1, null, null);

        PlanInvariants.Check(plan, devices, units, 1);
        Assert.Equal(PlacementStatus.Complete, plan.Status);
        Assert.Equal(units.Count, plan.Assignments.Count);
        Assert.Equal(devices.Count - units.Count, plan.Spares.Count);
    }

    [Fact]
    public void Rule2_memory_binds_before_speed()
    {
        // 12 units of 1 GB; equal speeds would give 4 each, but the first device holds only 2 (2.5 GB x 0.9).
        var devices = new[] { Gpu("a", 0, 2.5), Gpu("b", 0, 20), Gpu("c", 0, 20) };
        var units = Model(10);

        var plan = Planner.Plan(devices, units, 1, null, null);

        PlanInvariants.Check(plan, devices, units, 1);
        Assert.Equal(PlacementStatus.Complete, plan.Status);
        Assert.Equal(2, plan.AssignmentOf(devices[0].Id)!.Range.Count);
    }

    [Fact]
    public void Rule2_memory_is_never_exceeded_even_when_that_leaves_units_uncovered()
    {
        var devices = new[] { Gpu("a", 0, 4), Gpu("b", 0, 4), Gpu("c", 0, 4) };
        var units = Model(10);

        var plan = Planner.Plan(devices, units, 1, null, null);

        PlanInvariants.Check(plan, devices, units, 1);
        Assert.Equal(PlacementStatus.Insufficient, plan.Status);
        Assert.Contains(plan.UnitReplicas, r => r == 0);
        Assert.Contains(plan.Reasons, r => r.Contains("model needs 12 GB", StringComparison.Ordinal));
    }

    [Fact]
    public void Rule2_headroom_is_an_option()
    {
        var devices = new[] { Gpu("a", 0, 12) };
        var units = Model(10);

        Assert.Equal(PlacementStatus.Insufficient, Planner.Plan(devices, units, 1, null, null).Status);
        Assert.Equal(PlacementStatus.Complete, Planner.Plan(devices, units, 1, null, new PlannerOptions { MemoryHeadroom = 1.0 }).Status);
    }

    [Fact]
    public void Rule3_faster_devices_get_proportionally_more_cost()
    {
        var devices = new[] { Gpu("a", 0, 80, speed: 1), Gpu("b", 0, 80, speed: 2), Gpu("c", 0, 80, speed: 4) };
        var units = Model(28, endCost: 2.5);

        var plan = Planner.Plan(devices, units, 1, null, null);

        PlanInvariants.Check(plan, devices, units, 1);
        double total = units.Sum(u => u.Cost);
        double maxUnitCost = units.Max(u => u.Cost);
        foreach (var device in devices)
        {
            double share = Cost(units, plan.AssignmentOf(device.Id)!.Range);
            double target = device.Speed / 7.0 * total;
            Assert.True(Math.Abs(share - target) <= maxUnitCost, $"{device.Id}: {share} vs {target}");
        }
    }

    [Fact]
    public void Rule4_redundancy_builds_groups_on_disjoint_machines()
    {
        var devices = new[] { Gpu("a", 0, 24), Gpu("a", 1, 24), Gpu("b", 0, 24), Gpu("c", 0, 24) };
        var units = Model(10);

        var plan = Planner.Plan(devices, units, 2, null, null);

        PlanInvariants.Check(plan, devices, units, 2);
        Assert.Equal(PlacementStatus.Complete, plan.Status);
        Assert.Equal(2, plan.GroupCount);
        Assert.All(plan.UnitReplicas, r => Assert.Equal(2, r));
    }

    [Fact]
    public void Rule4_one_machine_cannot_give_two_replicas()
    {
        var devices = new[] { Gpu("a", 0, 24), Gpu("a", 1, 24) };
        var units = Model(10);

        var plan = Planner.Plan(devices, units, 2, null, null);

        PlanInvariants.Check(plan, devices, units, 2);
        Assert.Equal(PlacementStatus.Degraded, plan.Status);
        Assert.Equal(1, plan.AchievedRedundancy);
        Assert.Contains("redundancy 2 asked, 1 achieved: only 1 machine(s)", plan.Reasons);
    }

    [Fact]
    public void Rule4_two_machines_that_only_together_hold_the_model_give_one_replica()
    {
        var devices = new[] { Gpu("a", 0, 8), Gpu("b", 0, 8) };
        var units = Model(10);

        var plan = Planner.Plan(devices, units, 2, null, null);

        PlanInvariants.Check(plan, devices, units, 2);
        Assert.Equal(PlacementStatus.Degraded, plan.Status);
        Assert.Contains(plan.Reasons, r => r.StartsWith("redundancy 2 asked, 1 achieved: the pool's machines cannot form 2", StringComparison.Ordinal));
    }

    [Fact]
    public void Rule4_replicas_as_many_as_capacity_allows()
    {
        // Three machines, but the third cannot hold the model: 2 of 3 replicas.
        var devices = new[] { Gpu("a", 0, 24), Gpu("b", 0, 24), Gpu("c", 0, 3) };
        var units = Model(10);

        var plan = Planner.Plan(devices, units, 3, null, null);

        PlanInvariants.Check(plan, devices, units, 3);
        Assert.Equal(PlacementStatus.Degraded, plan.Status);
        Assert.Equal(2, plan.AchievedRedundancy);
    }

    [Fact]
    public void Rule5_a_device_leaving_the_middle_hands_its_units_to_both_neighbours()
    {
        var devices = new[] { Gpu("a", 0, 24), Gpu("b", 0, 24), Gpu("c", 0, 24) };
        var units = Model(10);
        var before = Planner.Plan(devices, units, 1, null, null);
        var middle = before.Pipeline(0).ElementAt(1);

        var remaining = devices.Where(d => d.Id != middle.Device).ToList();
        var after = Planner.Plan(remaining, units, 1, before, null);

        PlanInvariants.Check(after, remaining, units, 1);
        Assert.False(after.IsFresh);
        Assert.Empty(after.ReplannedGroups);
        var moves = Planner.Moves(before, after);
        Assert.Equal(Enumerable.Range(middle.Range.Start, middle.Range.Count), UnitsOf(moves));
        Assert.Equal(2, moves.Count);
        foreach (var device in remaining)
        {
            Assert.True(after.AssignmentOf(device.Id)!.Range.Contains(before.AssignmentOf(device.Id)!.Range));
        }
    }

    [Fact]
    public void Rule5_two_neighbouring_devices_leaving_together_leave_one_hole_for_the_devices_either_side()
    {
        var devices = new[] { Gpu("a", 0, 24), Gpu("b", 0, 24), Gpu("c", 0, 24), Gpu("d", 0, 24) };
        var units = Model(22);
        var before = Planner.Plan(devices, units, 1, null, null);
        var hole = new UnitRange(before.AssignmentOf(devices[1].Id)!.Range.Start, before.AssignmentOf(devices[2].Id)!.Range.End);

        var after = Planner.Plan([devices[0], devices[3]], units, 1, before, null);

        Assert.Equal(Enumerable.Range(hole.Start, hole.Count), UnitsOf(Planner.Moves(before, after)));
        Assert.Equal(2, Planner.Moves(before, after).Count);
        int toFirst = after.AssignmentOf(devices[0].Id)!.Range.End - hole.Start;
        Assert.InRange(toFirst, (hole.Count / 2) - 1, (hole.Count / 2) + 1);
    }

    [Fact]
    public void Rule5_neighbours_split_a_departed_range_by_speed()
    {
        var devices = new[] { Gpu("a", 0, 24, speed: 3), Gpu("b", 0, 24, speed: 1), Gpu("c", 0, 24, speed: 1) };
        var units = Model(18);
        var before = Planner.Plan(devices, units, 1, null, null);
        var gone = before.AssignmentOf(devices[1].Id)!;

        var after = Planner.Plan([devices[0], devices[2]], units, 1, before, null);

        int toFast = after.AssignmentOf(devices[0].Id)!.Range.End - before.AssignmentOf(devices[0].Id)!.Range.End;
        int toSlow = gone.Range.Count - toFast;
        Assert.True(toFast > toSlow, $"fast neighbour took {toFast}, slow {toSlow}");
    }

    [Fact]
    public void Rule5_when_neighbours_lack_memory_the_group_is_re_split()
    {
        // 12 units of 1 GB. a, b, c hold at most 4 units each; d is ample. Equal speeds give a 4, b 2, c 3, d 3
        // (begin costs little), so when b leaves only c has room, for one unit: the group is re-split.
        var devices = new[] { Gpu("a", 0, 4.5), Gpu("b", 0, 4.5), Gpu("c", 0, 4.5), Gpu("d", 0, 40) };
        var units = Model(10);
        var before = Planner.Plan(devices, units, 1, null, null);
        Assert.Equal(2, before.AssignmentOf(devices[1].Id)!.Range.Count);

        var remaining = devices.Where(d => d.Machine != "b").ToList();
        var after = Planner.Plan(remaining, units, 1, before, null);

        PlanInvariants.Check(after, remaining, units, 1);
        Assert.Equal(PlacementStatus.Complete, after.Status);
        Assert.False(after.IsFresh);
        Assert.Equal([0], after.ReplannedGroups);
        Assert.Contains(after.Reasons, r => r.Contains("re-split", StringComparison.Ordinal));
    }

    [Fact]
    public void Rule5_when_nobody_can_take_a_departed_range_the_others_keep_theirs()
    {
        var devices = new[] { Gpu("a", 0, 7), Gpu("b", 0, 7) };
        var units = Model(10);
        var before = Planner.Plan(devices, units, 1, null, null);
        Assert.Equal(PlacementStatus.Complete, before.Status);

        var after = Planner.Plan([devices[0]], units, 1, before, null);

        PlanInvariants.Check(after, [devices[0]], units, 1);
        Assert.Equal(PlacementStatus.Insufficient, after.Status);
        Assert.Empty(Planner.Moves(before, after));
        Assert.Contains(after.Reasons, r => r.StartsWith("pool has 6.3 GB of memory for weights (90% of 7 GB), model needs 12 GB", StringComparison.Ordinal));
    }

    [Fact]
    public void Rule5_a_joining_device_takes_a_slice_of_the_most_loaded_device_only()
    {
        var devices = new List<DevicePlanInput> { Gpu("a", 0, 24, speed: 1), Gpu("b", 0, 24, speed: 2), Gpu("c", 0, 24, speed: 1) };
        var units = Model(20);
        var before = Planner.Plan(devices, units, 1, null, null);
        double Load(PlacementPlan p, DevicePlanInput d) => Cost(units, p.AssignmentOf(d.Id)!.Range) / d.Speed;
        var mostLoaded = devices.OrderByDescending(d => Load(before, d)).ThenBy(d => d.Id).First();

        var newcomer = Gpu("d", 0, 24, speed: 2);
        var after = Planner.Plan([.. devices, newcomer], units, 1, before, null);

        PlanInvariants.Check(after, [.. devices, newcomer], units, 1);
        Assert.False(after.IsFresh);
        var moves = Planner.Moves(before, after);
        var taken = Assert.Single(moves);
        Assert.Equal(new UnitLoad(newcomer.Id, after.AssignmentOf(newcomer.Id)!.Range), taken);
        Assert.True(before.AssignmentOf(mostLoaded.Id)!.Range.Contains(taken.Units));
        foreach (var device in devices)
        {
            var now = after.AssignmentOf(device.Id)!.Range;
            var then = before.AssignmentOf(device.Id)!.Range;
            Assert.True(device == mostLoaded ? then.Contains(now) && now != then : now == then);
        }
    }

    [Fact]
    public void Rule5_a_device_joining_on_a_new_machine_fills_missing_replicas_first()
    {
        var devices = new[] { Gpu("a", 0, 24), Gpu("a", 1, 24) };
        var units = Model(10);
        var before = Planner.Plan(devices, units, 2, null, null);
        Assert.Equal(PlacementStatus.Degraded, before.Status);

        var newcomer = Gpu("b", 0, 24);
        var after = Planner.Plan([.. devices, newcomer], units, 2, before, null);

        Assert.Equal(PlacementStatus.Complete, after.Status);
        Assert.False(after.IsFresh);
        Assert.Equal([new UnitLoad(newcomer.Id, UnitRange.Whole(10))], Planner.Moves(before, after));
    }

    [Fact]
    public void Rule5_a_joining_device_fills_the_gap_of_an_insufficient_plan()
    {
        var devices = new[] { Gpu("a", 0, 7) };
        var units = Model(10);
        var before = Planner.Plan(devices, units, 1, null, null);
        Assert.Equal(PlacementStatus.Insufficient, before.Status);

        var newcomer = Gpu("b", 0, 7);
        var after = Planner.Plan([.. devices, newcomer], units, 1, before, null);

        Assert.Equal(PlacementStatus.Complete, after.Status);
        Assert.Equal([new UnitLoad(newcomer.Id, after.AssignmentOf(newcomer.Id)!.Range)], Planner.Moves(before, after));
    }

    [Fact]
    public void Rule5_re_planning_an_unchanged_pool_moves_nothing()
    {
        var devices = new[] { Gpu("a", 0, 24, 1), Gpu("a", 1, 24, 3), Gpu("b", 0, 24, 2), Gpu("c", 0, 5, 1) };
        var units = Model(16);
        var before = Planner.Plan(devices, units, 2, null, null);

        var after = Planner.Plan(devices.Reverse().ToList(), units, 2, before, null);

        Assert.Empty(Planner.Moves(before, after));
        Assert.Equal(before.Assignments, after.Assignments);
        Assert.Equal(before.Spares, after.Spares);
    }

    [Fact]
    public void Rule5_a_changed_redundancy_is_planned_afresh()
    {
        var devices = new[] { Gpu("a", 0, 24), Gpu("b", 0, 24) };
        var units = Model(10);
        var one = Planner.Plan(devices, units, 1, null, null);

        var two = Planner.Plan(devices, units, 2, one, null);

        Assert.True(two.IsFresh);
        Assert.Equal(PlacementStatus.Complete, two.Status);
        Assert.Contains(two.Reasons, r => r.Contains("redundancy changed from 1 to 2", StringComparison.Ordinal));
    }

    [Fact]
    public void Rule5_a_rebuilt_previous_plan_works_like_the_original()
    {
        var devices = new[] { Gpu("a", 0, 24), Gpu("b", 0, 24), Gpu("c", 0, 24) };
        var units = Model(10);
        var before = Planner.Plan(devices, units, 1, null, null);
        var rebuilt = PlacementPlan.FromAssignments(before.UnitCount, 1, before.Assignments, before.Spares);

        var after = Planner.Plan(devices, units, 1, rebuilt, null);

        Assert.Equal(before.Assignments, after.Assignments);
        Assert.Equal(before.Status, rebuilt.Status);
    }

    [Fact]
    public void Rule6_no_devices_is_insufficient()
    {
        var plan = Planner.Plan([], Model(10), 1, null, null);

        Assert.Equal(PlacementStatus.Insufficient, plan.Status);
        Assert.Empty(plan.Assignments);
        Assert.Contains(plan.Reasons, r => r.StartsWith("no devices in the pool", StringComparison.Ordinal));
    }

    [Fact]
    public void Rule6_a_pool_too_small_says_by_how_much()
    {
        var units = Model(14);
        var devices = new[] { Gpu("a", 0, 2), Gpu("b", 0, 1.4) };

        var plan = Planner.Plan(devices, units, 1, null, null);

        PlanInvariants.Check(plan, devices, units, 1);
        Assert.Equal(PlacementStatus.Insufficient, plan.Status);
        Assert.Contains("pool has 3.1 GB of memory for weights (90% of 3.4 GB), model needs 16 GB", plan.Reasons);
        Assert.Contains(plan.Reasons, r => r.StartsWith("uncovered: ", StringComparison.Ordinal));
    }

    [Fact]
    public void Rule6_a_unit_larger_than_every_device_is_named()
    {
        var units = Model(4).Select(u => u.Index == 5 ? u with { Bytes = 30 * Gb } : u).ToList();
        var devices = new[] { Gpu("a", 0, 24), Gpu("b", 0, 24) };

        var plan = Planner.Plan(devices, units, 1, null, null);

        Assert.Equal(PlacementStatus.Insufficient, plan.Status);
        Assert.Contains(plan.Reasons, r => r.StartsWith("the largest unit needs 30 GB", StringComparison.Ordinal));
        Assert.Contains("uncovered: [end..end]", plan.Reasons);
    }

    [Theory]
    [InlineData(0.0)]
    [InlineData(-1.0)]
    [InlineData(double.NaN)]
    [InlineData(double.PositiveInfinity)]
    public void Rule7_a_device_speed_must_be_finite_and_positive(double speed)
    {
        var devices = new[] { Gpu("a", 0, 24), Gpu("b", 0, 24, speed) };

        var error = Assert.Throws<ArgumentException>(() => Planner.Plan(devices, Model(10), 1, null, null));

        Assert.Contains("cuda:0@b: speed must be a finite number > 0", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Rule7_other_bad_inputs_are_rejected_with_a_reason()
    {
        var units = Model(4);
        Assert.Contains("memory", Assert.Throws<ArgumentException>(() => Planner.Plan([Gpu("a", 0, -1)], units, 1, null, null)).Message, StringComparison.Ordinal);
        Assert.Contains("listed twice", Assert.Throws<ArgumentException>(() => Planner.Plan([Gpu("a", 0, 8), Gpu("a", 0, 8)], units, 1, null, null)).Message, StringComparison.Ordinal);
        Assert.Contains("machine", Assert.Throws<ArgumentException>(() => Planner.Plan([Gpu("a", 0, 8) with { Machine = "" }], units, 1, null, null)).Message, StringComparison.Ordinal);
        var zeroCost = units.Select(u => u.Index == 2 ? u with { Cost = 0 } : u).ToList();
        Assert.Contains("cost", Assert.Throws<ArgumentException>(() => Planner.Plan([Gpu("a", 0, 8)], zeroCost, 1, null, null)).Message, StringComparison.Ordinal);
        Assert.Contains("in order", Assert.Throws<ArgumentException>(() => Planner.Plan([Gpu("a", 0, 8)], units.Reverse().ToList(), 1, null, null)).Message, StringComparison.Ordinal);
        Assert.ThrowsAny<ArgumentException>(() => Planner.Plan([Gpu("a", 0, 8)], units, 0, null, null));
        Assert.ThrowsAny<ArgumentException>(() => Planner.Plan([Gpu("a", 0, 8)], units, 1, null, new PlannerOptions { MemoryHeadroom = 1.5 }));
    }

    [Fact]
    public void Model_units_cost_by_parameters_touched_per_token()
    {
        // Llama-3-8B-like: hidden 4096, vocab 128256, ~218M parameters per layer.
        long[] bytes = [1_050_000_000, .. Enumerable.Repeat(436_000_000L, 32), 1_050_000_000];

        var units = UnitPlanInput.ForModel(bytes, vocabSize: 128_256, hiddenSize: 4096, paramsPerLayer: 218_112_000);

        Assert.Equal(34, units.Count);
        Assert.Equal(Enumerable.Range(0, 34), units.Select(u => u.Index));
        Assert.All(units.Skip(1).Take(32), u => Assert.Equal(1.0, u.Cost));
        Assert.Equal(128_256.0 * 4096 / 218_112_000, units[33].Cost, 9);
        Assert.InRange(units[0].Cost, 1e-6, 1e-3);
        Assert.Equal(bytes, units.Select(u => u.Bytes));
    }

    [Fact]
    public void A_gpu_joining_a_slow_device_that_could_not_hold_the_model_takes_all_but_the_slow_devices_speed_share()
    {
        // Measured on an H100 (issue 4): a bf16 Llama-3-8B store, a GPU offering 15.4 GiB, a CPU worker offering 8 GiB of
        // stored bytes at an eighth of the GPU's speed. The CPU registered first and its plan alone covered what fits
        // (insufficient); the repair then kept that and gave the GPU the gap, leaving 15 of 32 layers on the CPU.
        // Planned afresh, the CPU gets about its speed share.
        long[] bytes = [1_050_673_152, .. Enumerable.Repeat(436_224_000L, 32), 1_050_681_344];
        var units = UnitPlanInput.ForModel(bytes, vocabSize: 128_256, hiddenSize: 4096, paramsPerLayer: 218_112_000);
        var gpu = new DevicePlanInput(new DeviceKey(new NodeAddress("node-g"), "cuda:0"), "gpu0", 15749L * 1024 * 1024, 578);
        var cpu = new DevicePlanInput(new DeviceKey(new NodeAddress("node-c"), "cpu"), "cpu0", 8192L * 1024 * 1024, 73);

        var alone = Planner.Plan([cpu], units, 1, null, null);
        Assert.Equal(PlacementStatus.Insufficient, alone.Status);
        var both = Planner.Plan([cpu, gpu], units, 1, alone, null);

        Assert.Equal(PlacementStatus.Complete, both.Status);
        var cpuRange = both.AssignmentOf(cpu.Id)!.Range;
        Assert.InRange(cpuRange.Count, 2, 5);
    }

    [Fact]
    public void Moves_lists_what_each_device_newly_loads()
    {
        var before = PlacementPlan.FromAssignments(10, 1, [new(new DeviceKey(new NodeAddress("a"), "cuda:0"), 0, new UnitRange(3, 6)), new(new DeviceKey(new NodeAddress("b"), "cuda:0"), 0, new UnitRange(0, 3))], []);
        var after = PlacementPlan.FromAssignments(10, 1, [new(new DeviceKey(new NodeAddress("a"), "cuda:0"), 0, new UnitRange(2, 8)), new(new DeviceKey(new NodeAddress("c"), "cuda:0"), 0, new UnitRange(8, 10))], [new DeviceKey(new NodeAddress("b"), "cuda:0")]);

        var moves = Planner.Moves(before, after);

        Assert.Equal(
            [
                new UnitLoad(new DeviceKey(new NodeAddress("a"), "cuda:0"), new UnitRange(2, 3)),
                new UnitLoad(new DeviceKey(new NodeAddress("a"), "cuda:0"), new UnitRange(6, 8)),
                new UnitLoad(new DeviceKey(new NodeAddress("c"), "cuda:0"), new UnitRange(8, 10)),
            ],
            moves);
        Assert.Equal(after.Assignments.Select(a => new UnitLoad(a.Device, a.Range)).OrderBy(l => l.Device), Planner.Moves(null, after));
    }
}
