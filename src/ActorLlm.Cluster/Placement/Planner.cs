using ActorLlm.Protocol;

namespace ActorLlm.Cluster.Placement;

/// <summary>
/// Decides which device serves which units. Pure and deterministic: the same inputs give the same plan,
/// whatever order the devices come in (ties are broken by <see cref="DeviceKey"/>).
/// </summary>
/// <remarks>
/// Each device serves one contiguous range. Redundancy r is met by r replica groups, each a full pipeline over
/// all units, on disjoint sets of machines, so every unit's replicas sit on distinct hosts. Within a group,
/// faster devices get proportionally more cost. Weights never exceed <see cref="PlannerOptions.MemoryHeadroom"/>
/// of a device's memory, even if that leaves units uncovered.
/// </remarks>
public static class Planner
{
    /// <summary>
    /// Plans <paramref name="units"/> over <paramref name="devices"/>. With a <paramref name="previous"/> plan for the
    /// same model and redundancy, repairs it instead (departed devices' units go to their neighbours, new devices
    /// fill gaps or relieve the most loaded device), falling back to a fresh plan only when that reaches more
    /// coverage or redundancy than the repair.
    /// </summary>
    /// <exception cref="ArgumentException">A device's speed is not finite and positive, memory is negative, a key
    /// repeats, units are out of order or have a non-positive cost, or redundancy is below 1.</exception>
    public static PlacementPlan Plan(
        IReadOnlyList<DevicePlanInput> devices,
        IReadOnlyList<UnitPlanInput> units,
        int redundancy,
        PlacementPlan? previous = null,
        PlannerOptions? options = null)
    {
        options ??= PlannerOptions.Default;
        PlanValidation.Validate(devices, units, redundancy, options);
        double headroom = options.MemoryHeadroom;
        var table = new UnitTable(units);
        var sorted = devices.OrderBy(d => d.Id).ToList();
        var fresh = FreshPlanner.Plan(sorted, table, redundancy, headroom);

        var (chosen, isFresh, why) = previous switch
        {
            null => (fresh, true, null),
            _ when previous.UnitCount != table.Count => (fresh, true, $"fresh plan: the model has {table.Count} units, the previous plan {previous.UnitCount}"),
            _ when previous.RequestedRedundancy != redundancy => (fresh, true, $"fresh plan: redundancy changed from {previous.RequestedRedundancy} to {redundancy}"),

            // An insufficient plan serves nothing (no route covers the model), so there is nothing in service to keep in
            // place, and what it happened to cover says nothing about speed: plan afresh, so every device's share of the
            // model follows its speed (a repair would leave the old devices their ranges and hand only the rest to the
            // newcomers, however fast they are).
            _ when previous.Status == PlacementStatus.Insufficient => (fresh, true, "fresh plan: the previous plan could not serve the whole model"),
            _ => Repair(previous, sorted, table, redundancy, headroom, fresh),
        };

        // Streaming only when the pool cannot hold the model resident: a resident plan that covers it is kept, unless a
        // streamed plan is in service and the resident one would serve fewer replicas (a repair of a streamed plan knows
        // nothing of streaming; without this an unchanged pool would drop the replicas streaming gave it).
        var score = chosen.Score();
        bool streamedBefore = previous is not null && previous.Assignments.Any(a => a.StreamedLayers > 0);
        if ((!score.Covered || (streamedBefore && score.Achieved < redundancy)) && sorted.Any(d => d.CanStream))
        {
            var streamed = FreshPlanner.Plan(sorted, table, redundancy, headroom, streaming: true);
            var streamedScore = streamed.Score();
            if (streamedScore.Covered && (!score.Covered || streamedScore.Achieved >= score.Achieved))
            {
                long resident = sorted.Sum(chosen.ResidentCapacity);
                (chosen, isFresh, why) = (streamed, true,
                    $"streaming plan: the pool holds {PlanReasons.Size(resident)} of weights resident, the model needs {PlanReasons.Size(table.TotalBytes)}; "
                    + "layers beyond each device's memory are streamed from its host memory");
            }
        }

        var reasons = PlanReasons.Explain(chosen, sorted, redundancy, headroom);
        reasons.AddRange(chosen.Notes);
        if (why is not null)
        {
            reasons.Add(why);
        }

        return chosen.Freeze(redundancy, isFresh, reasons);
    }

    /// <summary>
    /// The units each device must newly load to go from <paramref name="before"/> to <paramref name="after"/>
    /// (what the re-plan costs), by device. Units a device already holds are not listed; a device can get two
    /// ranges when its new range grows at both ends.
    /// </summary>
    public static IReadOnlyList<UnitLoad> Moves(PlacementPlan? before, PlacementPlan after)
    {
        ArgumentNullException.ThrowIfNull(after);
        var loads = new List<UnitLoad>();
        foreach (var a in after.Assignments.OrderBy(a => a.Device))
        {
            UnitRange? held = before is not null && before.UnitCount == after.UnitCount ? before.AssignmentOf(a.Device)?.Range : null;
            if (held is not { } old || !old.Overlaps(a.Range))
            {
                loads.Add(new UnitLoad(a.Device, a.Range));
                continue;
            }

            if (a.Range.Start < old.Start)
            {
                loads.Add(new UnitLoad(a.Device, new UnitRange(a.Range.Start, old.Start)));
            }

            if (a.Range.End > old.End)
            {
                loads.Add(new UnitLoad(a.Device, new UnitRange(old.End, a.Range.End)));
            }
        }

        return loads;
    }

    private static (WorkingPlan Plan, bool IsFresh, string? Why) Repair(
        PlacementPlan previous, List<DevicePlanInput> devices, UnitTable units, int redundancy, double headroom, WorkingPlan fresh)
    {
        var repaired = IncrementalPlanner.Plan(previous, devices, units, redundancy, headroom);
        var (repairedCovered, repairedAchieved) = repaired.Score();
        var (freshCovered, freshAchieved) = fresh.Score();
        // Coverage and redundancy are worth moving weights for; anything less is not, so a tie keeps the repair.
        bool freshIsBetter = (freshCovered && !repairedCovered) || freshAchieved > repairedAchieved;
        return freshIsBetter
            ? (fresh, true, $"fresh plan: repairing the previous plan would reach redundancy {repairedAchieved}, a fresh plan reaches {freshAchieved}")
            : (repaired, false, null);
    }
}
