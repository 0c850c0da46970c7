using ActorLlm.Protocol;

namespace ActorLlm.Cluster.Placement;

/// <summary>A device serving a range while a plan is being built; the range changes as the plan is repaired.</summary>
internal sealed class Slot(DevicePlanInput device, UnitRange range)
{
    public DevicePlanInput Device { get; } = device;

    public UnitRange Range { get; set; } = range;

    /// <summary>Seconds per token: the stage with the highest load limits its pipeline.</summary>
    public double Load(WorkingPlan plan) => plan.Time(Device, Range);
}

/// <summary>One replica group under construction: disjoint ranges, possibly with gaps.</summary>
internal sealed class WorkingGroup
{
    public List<Slot> Slots { get; } = [];

    public void Add(Slot slot)
    {
        Slots.Add(slot);
        Slots.Sort((a, b) => a.Range.Start.CompareTo(b.Range.Start));
    }

    /// <summary>Maximal runs of units no device of this group serves, in order.</summary>
    public List<UnitRange> Gaps(int unitCount)
    {
        Slots.Sort((a, b) => a.Range.Start.CompareTo(b.Range.Start));
        var gaps = new List<UnitRange>();
        int next = 0;
        foreach (var slot in Slots)
        {
            if (slot.Range.Start > next)
            {
                gaps.Add(new UnitRange(next, slot.Range.Start));
            }

            next = slot.Range.End;
        }

        if (next < unitCount)
        {
            gaps.Add(new UnitRange(next, unitCount));
        }

        return gaps;
    }

    public double Bottleneck(WorkingPlan plan) => Slots.Count == 0 ? 0 : Slots.Max(s => s.Load(plan));
}

/// <summary>
/// The mutable state the fresh and incremental planners share; <see cref="Freeze"/> turns it into a plan. A plan that
/// <paramref name="streaming"/> lets devices that can stream hold more than their memory: the layers beyond their
/// resident budget are streamed from host memory (see <see cref="StreamingCost"/>).
/// </summary>
internal sealed class WorkingPlan(UnitTable units, double headroom, bool streaming = false)
{
    /// <summary>Whether devices may stream layers in this plan.</summary>
    public bool Streaming { get; } = streaming;

    public UnitTable Units { get; } = units;

    public List<WorkingGroup> Groups { get; } = [];

    /// <summary>Devices serving nothing, kept in key order so every pass over them is deterministic.</summary>
    public List<DevicePlanInput> Spares { get; } = [];

    public HashSet<WorkingGroup> Replanned { get; } = [];

    public List<string> Notes { get; } = [];

    /// <summary>Bytes of weights the device may hold on itself; the rest of its memory is for KV cache and activations.</summary>
    public long ResidentCapacity(DevicePlanInput device) => (long)Math.Floor(device.MemoryBytes * headroom);

    /// <summary>
    /// Bytes of weights the device may serve: its resident capacity, and in a streaming plan what it may stream on top
    /// (see <see cref="StreamingCost.Capacity"/>).
    /// </summary>
    public long Capacity(DevicePlanInput device) =>
        Streaming ? StreamingCost.Capacity(Units, device, ResidentCapacity(device)) : ResidentCapacity(device);

    /// <summary>Seconds per token the device spends on <paramref name="range"/> (streamed layers at max(compute, copy)).</summary>
    public double Time(DevicePlanInput device, UnitRange range) =>
        Streaming ? StreamingCost.Seconds(Units, device, range, ResidentCapacity(device)) : Units.Cost(range) / device.Speed;

    /// <summary>Layers of <paramref name="range"/> the device streams in this plan (0 when it is not a streaming plan or the range fits).</summary>
    public int StreamedLayers(DevicePlanInput device, UnitRange range) =>
        Streaming ? StreamingCost.StreamedLayers(Units, range, ResidentCapacity(device)) : 0;

    /// <summary>A device may serve in a group only if no other group uses its machine, so replicas never share a host.</summary>
    public bool CanServe(WorkingGroup group, string machine) =>
        !Groups.Any(other => other != group && other.Slots.Any(s => s.Device.Machine == machine));

    public bool IsMachineUnused(string machine) => !Groups.Any(g => g.Slots.Any(s => s.Device.Machine == machine));

    public void AddSpare(DevicePlanInput device)
    {
        Spares.Add(device);
        Spares.Sort((a, b) => a.Id.CompareTo(b.Id));
    }

    public int[] Replicas()
    {
        var replicas = new int[Units.Count];
        foreach (var slot in Groups.SelectMany(g => g.Slots))
        {
            for (int u = slot.Range.Start; u < slot.Range.End; u++)
            {
                replicas[u]++;
            }
        }

        return replicas;
    }

    /// <summary>(every unit covered, fewest replicas): what a plan is worth before what it costs to reach.</summary>
    public (bool Covered, int Achieved) Score()
    {
        int achieved = Replicas().Min();
        return (achieved > 0, achieved);
    }

    public PlacementPlan Freeze(int requestedRedundancy, bool isFresh, IReadOnlyList<string> reasons)
    {
        var kept = Groups.Where(g => g.Slots.Count > 0).ToList();
        var assignments = kept.SelectMany((g, index) => g.Slots.Select(s => new DeviceAssignment(s.Device.Id, index, s.Range, StreamedLayers(s.Device, s.Range))));
        var replanned = kept.Select((g, index) => (g, index)).Where(x => Replanned.Contains(x.g)).Select(x => x.index).ToArray();
        return PlacementPlan.Create(Units.Count, requestedRedundancy, assignments, Spares.Select(s => s.Id), reasons, isFresh, replanned);
    }
}
