namespace ActorLlm.Cluster.Placement;

/// <summary>A plan from scratch: as many machine-disjoint full pipelines as redundancy asks and memory allows.</summary>
internal static class FreshPlanner
{
    public static WorkingPlan Plan(IReadOnlyList<DevicePlanInput> devices, UnitTable units, int redundancy, double headroom, bool streaming = false)
    {
        var plan = new WorkingPlan(units, headroom, streaming);
        var machines = devices.GroupBy(d => d.Machine).OrderBy(m => m.Key, StringComparer.Ordinal).Select(m => m.ToList()).ToList();
        for (int groups = Math.Min(redundancy, machines.Count); groups >= 1; groups--)
        {
            foreach (var partition in Partitions(machines, groups, plan))
            {
                var pipelines = partition.Select(ms => RangeSplit.WholePipeline(units, ms.SelectMany(m => m).ToList(), plan.Capacity, plan.Streaming ? plan.Time : null)).ToList();
                if (pipelines.All(p => p is not null))
                {
                    foreach (var pipeline in pipelines)
                    {
                        var group = new WorkingGroup();
                        pipeline!.ForEach(group.Add);
                        plan.Groups.Add(group);
                    }

                    var serving = plan.Groups.SelectMany(g => g.Slots).Select(s => s.Device.Id).ToHashSet();
                    devices.Where(d => !serving.Contains(d.Id)).ToList().ForEach(plan.AddSpare);
                    return plan;
                }
            }
        }

        // The pool cannot hold one pipeline: cover what it can, so the plan shows what is missing and devices
        // that join later only fill the gaps.
        plan.Groups.Add(new WorkingGroup());
        devices.ToList().ForEach(plan.AddSpare);
        GapFill.Fixpoint(plan, plan.Spares.OrderByDescending(plan.Capacity).ThenBy(d => d.Id).ToList());
        return plan;
    }

    /// <summary>
    /// Ways to deal machines into <paramref name="groups"/> groups, tried in order: balanced by speed (equal
    /// pipelines); the machines with the largest devices as one seed per group, the rest by speed (when a few
    /// devices can each hold the model); balanced by the units each machine can surely hold (memory counted
    /// in whole largest units, since a device too small for any unit adds nothing). Whole machines go to one
    /// group, which is what keeps replicas on distinct hosts.
    /// </summary>
    /// <remarks>
    /// With volunteers in the pool and more than one group, the first way tried keeps one group to trusted machines
    /// (a machine with any volunteer device counts as a volunteer's), so that every unit a volunteer serves has a
    /// trusted replica; the ways above follow when the trusted machines cannot hold a pipeline alone or the rest
    /// cannot make up the other groups.
    /// </remarks>
    private static IEnumerable<List<List<List<DevicePlanInput>>>> Partitions(List<List<DevicePlanInput>> machines, int groups, WorkingPlan plan)
    {
        Func<List<DevicePlanInput>, double> speed = m => m.Sum(d => d.Speed);
        var trusted = machines.Where(m => m.All(d => !d.Volunteer)).ToList();
        if (groups > 1 && trusted.Count > 0 && trusted.Count < machines.Count)
        {
            var rest = Deal(machines.Except(trusted).ToList(), groups - 1, speed, seeds: []);
            yield return [trusted, .. rest];
        }

        yield return Deal(machines, groups, speed, seeds: []);
        if (groups > 1)
        {
            var seeds = machines.OrderByDescending(m => m.Max(plan.Capacity)).ThenBy(m => m[0].Machine, StringComparer.Ordinal).Take(groups).ToList();
            yield return Deal(machines, groups, speed, seeds);
            long largestUnit = Math.Max(1, plan.Units.MaxUnitBytes);
            yield return Deal(machines, groups, m => m.Sum(d => Math.Min(plan.Units.Count, plan.Capacity(d) / largestUnit)), seeds: []);
        }
    }

    /// <summary>Seeds one per group, then the rest largest first, each to the group with the least so far.</summary>
    private static List<List<List<DevicePlanInput>>> Deal(
        List<List<DevicePlanInput>> machines, int groups, Func<List<DevicePlanInput>, double> weight, List<List<DevicePlanInput>> seeds)
    {
        var dealt = Enumerable.Range(0, groups).Select(_ => new List<List<DevicePlanInput>>()).ToList();
        var totals = new double[groups];
        for (int g = 0; g < seeds.Count; g++)
        {
            dealt[g].Add(seeds[g]);
            totals[g] = weight(seeds[g]);
        }

        foreach (var machine in machines.Except(seeds).OrderByDescending(weight).ThenBy(m => m[0].Machine, StringComparer.Ordinal))
        {
            int lightest = Array.IndexOf(totals, totals.Min());
            dealt[lightest].Add(machine);
            totals[lightest] += weight(machine);
        }

        return dealt;
    }
}
