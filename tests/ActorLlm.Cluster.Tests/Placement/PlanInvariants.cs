using ActorLlm.Cluster.Placement;
using ActorLlm.Protocol;
using Xunit;

namespace ActorLlm.Cluster.Tests.Placement;

/// <summary>What every plan must satisfy, whatever the pool (rules 1, 2, 4 and the status bookkeeping).</summary>
internal static class PlanInvariants
{
    public static void Check(PlacementPlan plan, IReadOnlyList<DevicePlanInput> devices, IReadOnlyList<UnitPlanInput> units, int redundancy, double headroom = 0.9)
    {
        var byKey = devices.ToDictionary(d => d.Id);
        Assert.Equal(units.Count, plan.UnitCount);
        Assert.Equal(redundancy, plan.RequestedRedundancy);

        // Every device exactly once: assigned or spare.
        var listed = plan.Assignments.Select(a => a.Device).Concat(plan.Spares).ToList();
        Assert.Equal(devices.Select(d => d.Id).Order(), listed.Order());

        var replicas = new int[units.Count];
        foreach (var a in plan.Assignments)
        {
            Assert.InRange(a.Range.End, 1, units.Count);
            Assert.True(a.Range.Count > 0);
            var device = byKey[a.Device];
            long capacity = (long)Math.Floor(device.MemoryBytes * headroom);
            Assert.True(Pools.Bytes(units, a.Range) <= capacity, $"{a.Device} holds {Pools.Bytes(units, a.Range)} bytes, may hold {capacity}");
            for (int u = a.Range.Start; u < a.Range.End; u++)
            {
                replicas[u]++;
            }
        }

        // Within a group ranges are disjoint; across groups machines are disjoint.
        var machinesOfGroup = new List<HashSet<string>>();
        for (int g = 0; g < plan.GroupCount; g++)
        {
            var pipeline = plan.Pipeline(g).ToList();
            Assert.NotEmpty(pipeline);
            for (int i = 1; i < pipeline.Count; i++)
            {
                Assert.True(pipeline[i - 1].Range.End <= pipeline[i].Range.Start, $"group {g} overlaps:\n{plan}");
            }

            machinesOfGroup.Add(pipeline.Select(a => byKey[a.Device].Machine).ToHashSet());
        }

        for (int g = 0; g < machinesOfGroup.Count; g++)
        {
            for (int h = g + 1; h < machinesOfGroup.Count; h++)
            {
                Assert.False(machinesOfGroup[g].Overlaps(machinesOfGroup[h]), $"groups {g} and {h} share a machine:\n{plan}");
            }
        }

        for (int u = 0; u < units.Count; u++)
        {
            var machines = plan.Assignments.Where(a => a.Range.Contains(u)).Select(a => byKey[a.Device].Machine).ToList();
            Assert.Equal(machines.Count, machines.Distinct().Count());
        }

        Assert.Equal(replicas, plan.UnitReplicas);
        int achieved = replicas.Min();
        Assert.Equal(achieved, plan.AchievedRedundancy);
        Assert.True(achieved <= redundancy, $"more replicas than asked:\n{plan}");
        var expected = achieved == 0 ? PlacementStatus.Insufficient : achieved < redundancy ? PlacementStatus.Degraded : PlacementStatus.Complete;
        Assert.Equal(expected, plan.Status);
        if (plan.Status != PlacementStatus.Complete)
        {
            Assert.NotEmpty(plan.Reasons);
        }
    }

    /// <summary>True when one pipeline fits: devices largest first, each filling as many units as it holds.</summary>
    public static bool OnePipelineFits(IReadOnlyList<DevicePlanInput> devices, IReadOnlyList<UnitPlanInput> units, double headroom = 0.9)
    {
        int next = 0;
        foreach (long capacity in devices.Select(d => (long)Math.Floor(d.MemoryBytes * headroom)).OrderDescending())
        {
            long used = 0;
            while (next < units.Count && used + units[next].Bytes <= capacity)
            {
                used += units[next].Bytes;
                next++;
            }
        }

        return next == units.Count;
    }

    /// <summary>How many machines have a device that alone holds the whole model.</summary>
    public static int MachinesHoldingModel(IReadOnlyList<DevicePlanInput> devices, IReadOnlyList<UnitPlanInput> units, double headroom = 0.9)
    {
        long total = units.Sum(u => u.Bytes);
        return devices.Where(d => (long)Math.Floor(d.MemoryBytes * headroom) >= total).Select(d => d.Machine).Distinct().Count();
    }

    public static Dictionary<DeviceKey, UnitRange> Ranges(PlacementPlan plan) => plan.Assignments.ToDictionary(a => a.Device, a => a.Range);
}
