using ActorLlm.Protocol;

namespace ActorLlm.Cluster.Placement;

/// <summary>Spare and new devices filling units that a group does not serve.</summary>
internal static class GapFill
{
    /// <summary>
    /// Places <paramref name="device"/> at an edge of the first gap it can serve (groups in order, gaps in
    /// order), taking as many units as fit from whichever edge gives more. True if it was placed.
    /// </summary>
    public static bool TryFill(WorkingPlan plan, DevicePlanInput device)
    {
        foreach (var group in plan.Groups)
        {
            if (TryFill(plan, group, device))
            {
                return true;
            }
        }

        return false;
    }

    public static bool TryFill(WorkingPlan plan, WorkingGroup group, DevicePlanInput device) =>
        TryFill(plan, group, device, group.Gaps(plan.Units.Count));

    /// <summary>As above, but only into <paramref name="holes"/> (uncovered runs of <paramref name="group"/>).</summary>
    public static bool TryFill(WorkingPlan plan, WorkingGroup group, DevicePlanInput device, IEnumerable<UnitRange> holes)
    {
        if (!plan.CanServe(group, device.Machine))
        {
            return false;
        }

        long capacity = plan.Capacity(device);
        foreach (var gap in holes)
        {
            int forward = plan.Units.ReachForward(gap.Start, gap.End, capacity);
            int backward = plan.Units.ReachBackward(gap.End, gap.Start, capacity);
            if (forward == gap.Start && backward == gap.End)
            {
                continue;
            }

            var range = forward - gap.Start >= gap.End - backward ? new UnitRange(gap.Start, forward) : new UnitRange(backward, gap.End);
            group.Add(new Slot(device, range));
            plan.Spares.Remove(device);
            return true;
        }

        return false;
    }

    /// <summary>Lets <paramref name="candidates"/> (spares) fill gaps until none can place itself.</summary>
    public static void Fixpoint(WorkingPlan plan, IReadOnlyList<DevicePlanInput> candidates) =>
        Fixpoint(plan, candidates, g => g.Gaps(plan.Units.Count));

    /// <summary>As above, but only into the holes <paramref name="holes"/> gives for each group (asked afresh after each placement).</summary>
    public static void Fixpoint(WorkingPlan plan, IReadOnlyList<DevicePlanInput> candidates, Func<WorkingGroup, IEnumerable<UnitRange>> holes)
    {
        var waiting = candidates.ToList();
        bool placed = true;
        while (placed && waiting.Count > 0)
        {
            placed = false;
            foreach (var device in waiting.ToList())
            {
                if (plan.Groups.Any(g => TryFill(plan, g, device, holes(g))))
                {
                    waiting.Remove(device);
                    placed = true;
                }
            }
        }
    }
}
