using ActorLlm.Protocol;

namespace ActorLlm.Cluster.Placement;

/// <summary>
/// A plan made by repairing the previous one, moving as few units as it can: a departed device's units go to
/// its neighbours; a new device fills a gap, starts a missing replica group, or takes a slice of one loaded
/// device. Everyone else keeps their range.
/// </summary>
internal static class IncrementalPlanner
{
    public static WorkingPlan Plan(PlacementPlan previous, IReadOnlyList<DevicePlanInput> devices, UnitTable units, int redundancy, double headroom)
    {
        var plan = new WorkingPlan(units, headroom);
        var current = devices.ToDictionary(d => d.Id);
        var newcomers = devices.Where(d => previous.AssignmentOf(d.Id) is null && !previous.Spares.Contains(d.Id)).ToList();
        var departed = new Dictionary<WorkingGroup, List<UnitRange>>();
        for (int g = 0; g < previous.GroupCount; g++)
        {
            plan.Groups.Add(new WorkingGroup());
            departed[plan.Groups[g]] = [];
        }

        foreach (var a in previous.Assignments)
        {
            var group = plan.Groups[a.Group];
            if (!current.TryGetValue(a.Device, out var device))
            {
                departed[group].Add(a.Range);
            }
            else if (units.Bytes(a.Range) > plan.Capacity(device) || !plan.CanServe(group, device.Machine))
            {
                // Its memory shrank or it moved host: as if it left and came back.
                plan.Notes.Add($"{device.Id} no longer fits {units.Name(a.Range)} where it was; re-placed as a new device");
                departed[group].Add(a.Range);
                newcomers.Add(device);
            }
            else
            {
                group.Add(new Slot(device, a.Range));
            }
        }

        previous.Spares.Where(current.ContainsKey).Select(k => current[k]).ToList().ForEach(plan.AddSpare);
        foreach (var group in plan.Groups.Where(g => departed[g].Count > 0))
        {
            Repair(plan, group, departed[group]);
        }

        // Spares take over departed units the group could not keep, and nothing else: filling older gaps is a
        // decision for a fresh plan, and an unchanged pool must re-plan to the same placement.
        GapFill.Fixpoint(plan, plan.Spares.ToList(), g => Holes(plan, g, departed.GetValueOrDefault(g, [])));
        foreach (var device in newcomers.OrderBy(d => d.Id))
        {
            bool placed = GapFill.TryFill(plan, device)
                || (plan.Groups.Count < redundancy && plan.IsMachineUnused(device.Machine) && TryStartGroup(plan, device))
                || Joining.TryTakeSlice(plan, device);
            if (!placed)
            {
                plan.AddSpare(device);
            }
        }

        return plan;
    }

    /// <summary>The group's uncovered units that departed devices used to serve.</summary>
    private static IEnumerable<UnitRange> Holes(WorkingPlan plan, WorkingGroup group, List<UnitRange> departed)
    {
        // Adjacent departed ranges make one hole, so its neighbours on both sides share it.
        var merged = new List<UnitRange>();
        foreach (var range in departed.OrderBy(r => r.Start))
        {
            if (merged.Count > 0 && merged[^1].End >= range.Start)
            {
                merged[^1] = new UnitRange(merged[^1].Start, Math.Max(merged[^1].End, range.End));
            }
            else
            {
                merged.Add(range);
            }
        }

        return group.Gaps(plan.Units.Count)
            .SelectMany(gap => merged.Where(gap.Overlaps).Select(gone => new UnitRange(Math.Max(gap.Start, gone.Start), Math.Min(gap.End, gone.End))))
            .ToList();
    }

    /// <summary>
    /// Hands the units of departed devices to their neighbours in the group; if the neighbours cannot hold them,
    /// re-splits the whole group over its survivors and the spares it may use; if even that does not fit, leaves
    /// the gap for spares and newcomers.
    /// </summary>
    private static void Repair(WorkingPlan plan, WorkingGroup group, List<UnitRange> departed)
    {
        if (group.Slots.Count == 0)
        {
            return;
        }

        // Only the departed units: a gap that was already there stays a decision for joins and fresh plans.
        var failed = Holes(plan, group, departed).Where(hole => !Absorb(plan, group, hole)).ToList();
        if (failed.Count == 0)
        {
            return;
        }

        var eligibleSpares = plan.Spares.Where(s => plan.CanServe(group, s.Machine)).ToList();
        var members = group.Slots.Select(s => s.Device).Concat(eligibleSpares).ToList();
        var pipeline = RangeSplit.WholePipeline(plan.Units, members, plan.Capacity);
        string lost = string.Join(", ", failed.Select(plan.Units.Name));
        if (pipeline is null)
        {
            plan.Notes.Add($"units {lost} lost a replica: the rest of its group cannot hold them");
            return;
        }

        group.Slots.Clear();
        pipeline.ForEach(group.Add);
        foreach (var device in members.Where(d => !pipeline.Any(s => s.Device.Id == d.Id)))
        {
            plan.Spares.Remove(device);
            plan.AddSpare(device);
        }

        plan.Spares.RemoveAll(s => pipeline.Any(p => p.Device.Id == s.Id));
        plan.Replanned.Add(group);
        plan.Notes.Add($"a replica group was re-split: its remaining devices' free memory next to {lost} was too small");
    }

    /// <summary>
    /// The neighbours either side of <paramref name="gap"/> (a run of departed units) extend into it, splitting its cost in proportion to
    /// their speed as far as their free memory allows. False (and nothing changed) if they cannot cover it.
    /// </summary>
    private static bool Absorb(WorkingPlan plan, WorkingGroup group, UnitRange gap)
    {
        var units = plan.Units;
        var left = group.Slots.FirstOrDefault(s => s.Range.End == gap.Start);
        var right = group.Slots.FirstOrDefault(s => s.Range.Start == gap.End);
        long Free(Slot s) => plan.Capacity(s.Device) - units.Bytes(s.Range);

        int lowest = right is null ? gap.End : units.ReachBackward(gap.End, gap.Start, Free(right));
        int highest = left is null ? gap.Start : units.ReachForward(gap.Start, gap.End, Free(left));
        if ((left is null && right is null) || lowest > highest)
        {
            return false;
        }

        int cut = left is null ? gap.Start : right is null ? gap.End
            : units.NearestBoundary(units.CostBefore(gap.Start) + (units.Cost(gap) * left.Device.Speed / (left.Device.Speed + right.Device.Speed)), gap.Start, gap.End);
        cut = Math.Clamp(cut, lowest, highest);
        if (left is not null && cut > gap.Start)
        {
            left.Range = new UnitRange(left.Range.Start, cut);
        }

        if (right is not null && cut < gap.End)
        {
            right.Range = new UnitRange(cut, right.Range.End);
        }

        return true;
    }

    /// <summary>A new device on an unused machine starts a missing replica group with as much as it can hold.</summary>
    private static bool TryStartGroup(WorkingPlan plan, DevicePlanInput device)
    {
        var group = new WorkingGroup();
        plan.Groups.Add(group);
        if (GapFill.TryFill(plan, group, device))
        {
            return true;
        }

        plan.Groups.Remove(group);
        return false;
    }
}
