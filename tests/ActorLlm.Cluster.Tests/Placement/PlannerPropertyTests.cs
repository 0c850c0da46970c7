using ActorLlm.Cluster.Placement;
using ActorLlm.Protocol;
using FsCheck;
using FsCheck.Fluent;
using Xunit;
using static ActorLlm.Cluster.Tests.Placement.Pools;

namespace ActorLlm.Cluster.Tests.Placement;

public class PlannerPropertyTests
{
    private static readonly Config s_config = Config.QuickThrowOnFailure.WithMaxTest(400);

    [Fact]
    public void Plans_cover_respect_memory_and_keep_replicas_on_distinct_machines() =>
        Check.One(s_config, Prop.ForAll(PlanGen.Pools(), pool =>
        {
            var plan = Planner.Plan(pool.Devices, pool.Units, pool.Redundancy, null, null);
            PlanInvariants.Check(plan, pool.Devices, pool.Units, pool.Redundancy);
            CheckCapacityIsUsed(plan, pool);
        }));

    [Fact]
    public void Plans_are_deterministic_whatever_the_device_order() =>
        Check.One(s_config, Prop.ForAll(PlanGen.Pools(), pool =>
        {
            var plan = Planner.Plan(pool.Devices, pool.Units, pool.Redundancy, null, null);
            var shuffled = pool.Devices.Reverse().ToList();
            Assert.Equal(plan.Describe(), Planner.Plan(shuffled, pool.Units, pool.Redundancy, null, null).Describe());
            var again = Planner.Plan(shuffled, pool.Units, pool.Redundancy, plan, null);
            Assert.Equal(again.Describe(), Planner.Plan(pool.Devices, pool.Units, pool.Redundancy, plan, null).Describe());
        }));

    [Fact]
    public void Fresh_plans_share_cost_by_speed_within_each_group_when_memory_is_ample() =>
        Check.One(s_config, Prop.ForAll(PlanGen.Pools(ample: true), pool =>
        {
            var plan = Planner.Plan(pool.Devices, pool.Units, pool.Redundancy, null, null);
            Assert.Equal(Math.Min(pool.Redundancy, pool.Devices.Select(d => d.Machine).Distinct().Count()), plan.GroupCount);
            double total = pool.Units.Sum(u => u.Cost);
            double maxUnitCost = pool.Units.Max(u => u.Cost);
            var byKey = pool.Devices.ToDictionary(d => d.Id);
            for (int g = 0; g < plan.GroupCount; g++)
            {
                // A group is the machines it uses; every device of those machines had its speed counted.
                var machines = plan.Pipeline(g).Select(a => byKey[a.Device].Machine).ToHashSet();
                var members = pool.Devices.Where(d => machines.Contains(d.Machine)).ToList();
                double speed = members.Sum(d => d.Speed);
                foreach (var device in members)
                {
                    var assignment = plan.AssignmentOf(device.Id);
                    double share = assignment is null ? 0 : Cost(pool.Units, assignment.Range);
                    double target = device.Speed / speed * total;
                    Assert.True(Math.Abs(share - target) <= maxUnitCost + 1e-9, $"{device.Id}: cost {share}, target {target}\n{plan}");
                }
            }
        }));

    [Fact]
    public void Joins_and_leaves_move_only_what_they_must() =>
        Check.One(s_config, Prop.ForAll(PlanGen.Churns(), churn => Replay(churn, ample: false)));

    [Fact]
    public void With_ample_memory_joins_and_leaves_are_always_repaired_locally() =>
        Check.One(s_config, Prop.ForAll(PlanGen.Churns(ample: true), churn => Replay(churn, ample: true)));

    /// <summary>
    /// Plays the events, re-planning from the previous plan each time, and checks each step: a join loads only
    /// the newcomer's range and only shrinks the others; a leave loads only the departed device's units (outside
    /// groups the planner reports re-split); nothing happening moves nothing. A fresh re-plan is allowed only
    /// where it buys coverage or redundancy, which the capacity checks then hold it to.
    /// </summary>
    private static void Replay(Churn churn, bool ample)
    {
        var pool = churn.Pool;
        var present = pool.Devices.Where((_, i) => churn.InitiallyPresent[i]).ToList();
        var plan = Planner.Plan(present, pool.Units, pool.Redundancy, null, null);
        foreach (int e in churn.Events)
        {
            var before = plan;
            DevicePlanInput? toggled = e < pool.Devices.Count ? pool.Devices[e] : null;
            bool leaving = toggled is not null && present.Contains(toggled);
            if (toggled is not null)
            {
                present = leaving ? present.Where(d => d != toggled).ToList() : [.. present, toggled];
            }

            plan = Planner.Plan(present, pool.Units, pool.Redundancy, before, null);
            PlanInvariants.Check(plan, present, pool.Units, pool.Redundancy);
            CheckCapacityIsUsed(plan, pool with { Devices = present });
            var moves = Planner.Moves(before, plan);
            if (ample)
            {
                // The fresh re-plans an ample pool needs: the last device of a group left and no spare on a free
                // machine can take its place, so only moving machines between groups restores redundancy; or the
                // previous plan served nothing (insufficient), so there is nothing in service to keep in place.
                var held = toggled is null ? null : before.AssignmentOf(toggled.Id);
                bool groupEmptied = leaving && held is not null && before.Pipeline(held.Group).Count() == 1;
                bool servedNothing = before.Status == PlacementStatus.Insufficient;
                Assert.True(!plan.IsFresh || groupEmptied || servedNothing, $"fresh plan on an ample pool:\n{before}\n->\n{plan}");
                Assert.Empty(plan.ReplannedGroups);
            }

            if (plan.IsFresh)
            {
                continue;
            }

            if (toggled is null)
            {
                Assert.Empty(moves);
                Assert.Equal(before.Assignments, plan.Assignments);
            }
            else if (!leaving)
            {
                CheckJoin(before, plan, moves, toggled.Id);
            }
            else
            {
                CheckLeave(before, plan, moves, toggled.Id, ample);
            }
        }
    }

    private static void CheckJoin(PlacementPlan before, PlacementPlan after, IReadOnlyList<UnitLoad> moves, DeviceKey newcomer)
    {
        var range = after.AssignmentOf(newcomer)?.Range;
        Assert.Equal(range is { } r ? [new UnitLoad(newcomer, r)] : [], moves);
        foreach (var a in after.Assignments.Where(a => a.Device != newcomer))
        {
            Assert.True(before.AssignmentOf(a.Device)?.Range.Contains(a.Range) == true, $"{a.Device} grew on a join:\n{before}\n->\n{after}");
        }
    }

    private static void CheckLeave(PlacementPlan before, PlacementPlan after, IReadOnlyList<UnitLoad> moves, DeviceKey departed, bool ample)
    {
        var held = before.AssignmentOf(departed);
        var heldUnits = held is null ? [] : Enumerable.Range(held.Range.Start, held.Range.Count).ToList();
        var outsideReplans = moves.Where(m => !after.ReplannedGroups.Contains(after.AssignmentOf(m.Device)!.Group)).ToList();
        var moved = UnitsOf(outsideReplans);
        Assert.True(moved.Distinct().Count() == moved.Count && moved.All(heldUnits.Contains), $"a leave of {departed} moved {string.Join(",", moved)}:\n{before}\n->\n{after}");
        bool groupSurvives = held is not null && after.Assignments.Any(a => before.AssignmentOf(a.Device)?.Group == held.Group);
        if (ample && groupSurvives)
        {
            Assert.Equal(heldUnits, moved);
        }
    }

    /// <summary>Capacity is used where the oracles can tell it was there: one pipeline fitting, r model-sized machines.</summary>
    private static void CheckCapacityIsUsed(PlacementPlan plan, Pool pool)
    {
        if (PlanInvariants.OnePipelineFits(pool.Devices, pool.Units))
        {
            Assert.NotEqual(PlacementStatus.Insufficient, plan.Status);
        }

        if (PlanInvariants.MachinesHoldingModel(pool.Devices, pool.Units) >= pool.Redundancy)
        {
            Assert.Equal(PlacementStatus.Complete, plan.Status);
        }
    }
}
