using ActorLlm.Protocol;

namespace ActorLlm.Cluster.Placement;

/// <summary>A new device relieving the most loaded device of a group.</summary>
internal static class Joining
{
    /// <summary>
    /// Takes a slice from one end of the most loaded device (cost / speed) that the newcomer can relieve, in the
    /// slowest group it may join. Only that device shrinks; nobody else loads anything. False if no split makes
    /// that device's stage faster (the newcomer is too slow or too small).
    /// </summary>
    public static bool TryTakeSlice(WorkingPlan plan, DevicePlanInput newcomer)
    {
        var groups = plan.Groups.Where(g => g.Slots.Count > 0 && plan.CanServe(g, newcomer.Machine))
            .Select((g, index) => (g, index)).OrderByDescending(x => x.g.Bottleneck(plan)).ThenBy(x => x.index).Select(x => x.g);
        foreach (var group in groups)
        {
            var loaded = group.Slots.Where(s => s.Range.Count >= 2).OrderByDescending(s => s.Load(plan)).ThenBy(s => s.Device.Id);
            foreach (var slot in loaded)
            {
                var split = BestSplit(plan, slot, newcomer);
                if (split is { } s)
                {
                    slot.Range = s.Kept;
                    group.Add(new Slot(newcomer, s.Taken));
                    return true;
                }
            }
        }

        return false;
    }

    /// <summary>
    /// The slice (from either end) that minimises the slower of the two stages, if that beats the device's load
    /// now; with the speeds as weights this is the split proportional to speed, rounded to whole units.
    /// </summary>
    private static (UnitRange Kept, UnitRange Taken)? BestSplit(WorkingPlan plan, Slot slot, DevicePlanInput newcomer)
    {
        var units = plan.Units;
        var range = slot.Range;
        long capacity = plan.Capacity(newcomer);
        double before = slot.Load(plan);
        (UnitRange Kept, UnitRange Taken)? best = null;
        double bestLoad = before;
        for (int k = 1; k < range.Count; k++)
        {
            // The tail first, so a tie keeps the newcomer after the device it relieves.
            (UnitRange Kept, UnitRange Taken)[] options =
            [
                (new UnitRange(range.Start, range.End - k), new UnitRange(range.End - k, range.End)),
                (new UnitRange(range.Start + k, range.End), new UnitRange(range.Start, range.Start + k)),
            ];
            foreach (var option in options)
            {
                if (units.Bytes(option.Taken) > capacity)
                {
                    continue;
                }

                double load = Math.Max(plan.Time(slot.Device, option.Kept), plan.Time(newcomer, option.Taken));
                if (load < bestLoad * (1 - 1e-12))
                {
                    best = option;
                    bestLoad = load;
                }
            }
        }

        return best;
    }
}
