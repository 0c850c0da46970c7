using ActorLlm.Cluster.Placement;
using ActorLlm.Protocol;
using Xunit;
using static ActorLlm.Cluster.Tests.Placement.Pools;

namespace ActorLlm.Cluster.Tests.Placement;

/// <summary>
/// Trust in placement (issue 13, part 4): with volunteers in the pool and redundancy above 1, one replica group is
/// kept to trusted machines where they can hold a pipeline, so every unit a volunteer serves has a trusted replica.
/// </summary>
public sealed class TrustedReplicaTests
{
    private static DevicePlanInput Volunteer(string machine, double memoryGb, double speed = 1.0) => Gpu(machine, 0, memoryGb, speed) with { Volunteer = true };

    [Fact]
    public void Every_unit_a_volunteer_serves_has_a_trusted_replica_where_capacity_allows()
    {
        // Speed-balanced dealing pairs the fastest with the slowest (t1 + v2, t2 + v1); with trust, t1 + t2 is one group.
        var devices = new[] { Gpu("t1", 0, 24, 4), Gpu("t2", 0, 24, 3), Volunteer("v1", 24, 2), Volunteer("v2", 24, 1) };
        var units = Model(10);
        var plan = Planner.Plan(devices, units, redundancy: 2);

        PlanInvariants.Check(plan, devices, units, 2);
        Assert.Equal(PlacementStatus.Complete, plan.Status);
        var volunteers = devices.Where(d => d.Volunteer).Select(d => d.Id).ToHashSet();
        var groups = plan.Assignments.GroupBy(a => a.Group).ToList();
        Assert.Contains(groups, g => g.All(a => !volunteers.Contains(a.Device)));

        // The control: the same pool without trust mixes volunteers into both groups.
        var blind = Planner.Plan([.. devices.Select(d => d with { Volunteer = false })], units, redundancy: 2);
        Assert.All(blind.Assignments.GroupBy(a => a.Group), g => Assert.Contains(g, a => volunteers.Contains(a.Device)));
        foreach (var a in plan.Assignments.Where(a => volunteers.Contains(a.Device)))
        {
            for (int u = a.Range.Start; u < a.Range.End; u++)
            {
                Assert.Contains(plan.Assignments, t => !volunteers.Contains(t.Device) && t.Range.Start <= u && u < t.Range.End);
            }
        }
    }

    [Fact]
    public void Without_trusted_capacity_for_a_pipeline_the_pool_is_still_planned_as_before()
    {
        // The trusted machine holds 6 of 12 units: no trusted group is possible, so redundancy comes from mixing.
        var devices = new[] { Gpu("t1", 0, 7), Volunteer("v1", 24), Volunteer("v2", 7) };
        var units = Model(10);
        var withTrust = Planner.Plan(devices, units, redundancy: 2);
        var plain = Planner.Plan([.. devices.Select(d => d with { Volunteer = false })], units, redundancy: 2);

        PlanInvariants.Check(withTrust, devices, units, 2);
        Assert.Equal(plain.Status, withTrust.Status);
        Assert.Equal(plain.AchievedRedundancy, withTrust.AchievedRedundancy);
    }
}
