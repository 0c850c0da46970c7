using System.Globalization;
using System.Text;
using ActorLlm.Protocol;

namespace ActorLlm.Cluster.Placement;

/// <summary>
/// The output of <see cref="Planner.Plan"/>: which device serves which units in which replica group, and how
/// well that meets the requested redundancy. Named <c>PlacementPlan</c> rather than <c>Placement</c> because a
/// type named like its namespace makes every <c>ActorLlm.Cluster.*</c> file that mentions it resolve the namespace.
/// Equality is by value: two plans are equal when they say the same thing (see <see cref="Equals(PlacementPlan?)"/>).
/// </summary>
public sealed record PlacementPlan
{
    private PlacementPlan(
        int unitCount,
        int requestedRedundancy,
        IReadOnlyList<DeviceAssignment> assignments,
        IReadOnlyList<DeviceKey> spares,
        IReadOnlyList<int> unitReplicas,
        IReadOnlyList<string> reasons,
        bool isFresh,
        IReadOnlyList<int> replannedGroups)
    {
        UnitCount = unitCount;
        RequestedRedundancy = requestedRedundancy;
        Assignments = assignments;
        Spares = spares;
        UnitReplicas = unitReplicas;
        Reasons = reasons;
        IsFresh = isFresh;
        ReplannedGroups = replannedGroups;
        GroupCount = assignments.Count == 0 ? 0 : assignments.Max(a => a.Group) + 1;
        AchievedRedundancy = unitReplicas.Count == 0 ? 0 : unitReplicas.Min();
        Status = AchievedRedundancy == 0 ? PlacementStatus.Insufficient
            : AchievedRedundancy < requestedRedundancy ? PlacementStatus.Degraded
            : PlacementStatus.Complete;
    }

    /// <summary>Units of the model the plan is for (L + 2 for L decoder layers).</summary>
    public int UnitCount { get; }

    /// <summary>Assigned devices in pipeline order: by group, then by the start of their range.</summary>
    public IReadOnlyList<DeviceAssignment> Assignments { get; }

    /// <summary>Devices in the pool that serve nothing, by key.</summary>
    public IReadOnlyList<DeviceKey> Spares { get; }

    public int GroupCount { get; }

    public int RequestedRedundancy { get; }

    /// <summary>The fewest replicas any unit has; 0 when some unit is uncovered.</summary>
    public int AchievedRedundancy { get; }

    /// <summary>For each unit, how many devices serve it (each on a distinct machine).</summary>
    public IReadOnlyList<int> UnitReplicas { get; }

    public PlacementStatus Status { get; }

    /// <summary>Why the plan is what it is, for people: causes of the status first, then re-plan decisions.</summary>
    public IReadOnlyList<string> Reasons { get; }

    /// <summary>True when the plan was made from scratch rather than by repairing the previous one.</summary>
    public bool IsFresh { get; }

    /// <summary>Groups of an incremental plan that were re-split as a whole because local repair did not fit.</summary>
    public IReadOnlyList<int> ReplannedGroups { get; }

    public DeviceAssignment? AssignmentOf(DeviceKey device) => Assignments.FirstOrDefault(a => a.Device == device);

    /// <summary>The devices of one replica group, in pipeline order.</summary>
    public IEnumerable<DeviceAssignment> Pipeline(int group) => Assignments.Where(a => a.Group == group);

    /// <summary>
    /// A plan rebuilt from known assignments, e.g. by a coordinator that took over and asked the workers what
    /// they serve, to pass as <c>previous</c> so the next plan moves little. Status and replicas are derived.
    /// </summary>
    public static PlacementPlan FromAssignments(int unitCount, int requestedRedundancy, IEnumerable<DeviceAssignment> assignments, IEnumerable<DeviceKey> spares)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(unitCount, 2);
        ArgumentOutOfRangeException.ThrowIfLessThan(requestedRedundancy, 1);
        var list = assignments.ToList();
        var spareList = spares.ToList();
        var seen = new HashSet<DeviceKey>();
        foreach (var key in list.Select(a => a.Device).Concat(spareList))
        {
            if (!seen.Add(key))
            {
                throw new ArgumentException($"device {key} appears more than once", nameof(assignments));
            }
        }

        foreach (var a in list)
        {
            if (a.Group < 0 || a.Range.End > unitCount)
            {
                throw new ArgumentException($"{a.Device}: group {a.Group}, range {a.Range} is outside a model of {unitCount} units", nameof(assignments));
            }
        }

        foreach (var group in list.GroupBy(a => a.Group))
        {
            var ordered = group.OrderBy(a => a.Range.Start).ToList();
            for (int i = 1; i < ordered.Count; i++)
            {
                if (ordered[i].Range.Overlaps(ordered[i - 1].Range))
                {
                    throw new ArgumentException($"group {group.Key}: {ordered[i - 1].Device} and {ordered[i].Device} overlap", nameof(assignments));
                }
            }
        }

        return Create(unitCount, requestedRedundancy, list, spareList, [], isFresh: false, []);
    }

    internal static PlacementPlan Create(
        int unitCount,
        int requestedRedundancy,
        IEnumerable<DeviceAssignment> assignments,
        IEnumerable<DeviceKey> spares,
        IReadOnlyList<string> reasons,
        bool isFresh,
        IReadOnlyList<int> replannedGroups)
    {
        var ordered = assignments.OrderBy(a => a.Group).ThenBy(a => a.Range.Start).ToArray();
        var replicas = new int[unitCount];
        foreach (var a in ordered)
        {
            for (int u = a.Range.Start; u < a.Range.End; u++)
            {
                replicas[u]++;
            }
        }

        return new PlacementPlan(unitCount, requestedRedundancy, ordered, spares.Order().ToArray(), replicas, reasons, isFresh, replannedGroups);
    }

    /// <summary>
    /// True when both plans say the same thing, i.e. everything <see cref="Describe"/> shows: the model's unit count, the
    /// redundancy asked, the assignments (kept in pipeline order, so equal sets compare equal), the spares (in key
    /// order), the reasons, whether it is fresh and which groups were re-planned. Status and replica counts follow from
    /// these.
    /// </summary>
    public bool Equals(PlacementPlan? other) =>
        other is not null
        && (ReferenceEquals(this, other)
            || (UnitCount == other.UnitCount
                && RequestedRedundancy == other.RequestedRedundancy
                && IsFresh == other.IsFresh
                && Assignments.SequenceEqual(other.Assignments)
                && Spares.SequenceEqual(other.Spares)
                && ReplannedGroups.SequenceEqual(other.ReplannedGroups)
                && Reasons.SequenceEqual(other.Reasons, StringComparer.Ordinal)));

    public override int GetHashCode()
    {
        var hash = new HashCode();
        hash.Add(UnitCount);
        hash.Add(RequestedRedundancy);
        foreach (var a in Assignments)
        {
            hash.Add(a);
        }

        return hash.ToHashCode();
    }

    /// <summary>A readable, complete rendering; equal plans render equally.</summary>
    public string Describe()
    {
        int layers = UnitCount - 2;
        var text = new StringBuilder();
        text.Append(CultureInfo.InvariantCulture, $"{Status}: redundancy {AchievedRedundancy} of {RequestedRedundancy}, {UnitCount} units{(IsFresh ? ", fresh" : "")}\n");
        for (int g = 0; g < GroupCount; g++)
        {
            text.Append(CultureInfo.InvariantCulture, $"group {g}{(ReplannedGroups.Contains(g) ? " (re-planned)" : "")}: ");
            text.AppendJoin(" | ", Pipeline(g).Select(a => $"{a.Device} {a.Range.Describe(layers)}{(a.StreamedLayers > 0 ? $" ({a.StreamedLayers} layers streamed)" : "")}"));
            text.Append('\n');
        }

        if (Spares.Count > 0)
        {
            text.Append("spares: ").AppendJoin(", ", Spares).Append('\n');
        }

        foreach (string reason in Reasons)
        {
            text.Append("- ").Append(reason).Append('\n');
        }

        return text.ToString();
    }

    public override string ToString() => Describe();
}
