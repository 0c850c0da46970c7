using System.Globalization;
using ActorLlm.Protocol;
using ActorLlm.Protocol.Messages;

namespace ActorLlm.Gateway.Dashboard;

/// <summary>An event the difference between two statuses makes, before the ring numbers and times it.</summary>
/// <param name="NewPlan">A new placement: some device's assignment changed (metrics count these as rollouts).</param>
public sealed record StatusChange(PoolEventKind Kind, string Message, bool NewPlan = false);

/// <summary>
/// What changed between two successive statuses of the pool, as events for people: devices that registered or went
/// away, a new placement (some device's assignment changed) and the end of its rollout (every device serves what it
/// was assigned again), the placement's status, the route version, new notes. Pure: the status watcher calls it on
/// every poll. Cluster membership (nodes up, leaving, unreachable) comes from Akka's member events instead.
/// </summary>
public static class StatusDiff
{
    /// <summary>A placement is rolling out while any device does not serve exactly what it was assigned.</summary>
    public static bool RollingOut(StatusMessages.ClusterStatus s) => s.Devices.Any(d => d.Assigned != d.Serving);

    /// <summary>The events from <paramref name="before"/> (null: the first status this gateway saw) to <paramref name="after"/>.</summary>
    public static IReadOnlyList<StatusChange> Between(StatusMessages.ClusterStatus? before, StatusMessages.ClusterStatus after)
    {
        var changes = new List<StatusChange>();
        int layers = after.Layers;
        if (before is null)
        {
            changes.Add(new(PoolEventKind.Info, $"watching the pool: {PlacementStatuses.Describe(after.PlacementStatus, after.Loading)}; {Summary(after)}"));
            return changes;
        }

        var old = before.Devices.ToDictionary(d => d.Device.Key);
        var now = after.Devices.ToDictionary(d => d.Device.Key);
        foreach (var d in after.Devices.Where(d => !old.ContainsKey(d.Device.Key)).OrderBy(d => d.Device.Label, StringComparer.Ordinal))
        {
            changes.Add(new(PoolEventKind.Join, string.Create(CultureInfo.InvariantCulture,
                $"{d.Device.Label} registered: {d.Device.MemoryBytes / 1073741824.0:F1} GiB, {d.Device.Speed:F0} layers/s, {d.Device.DType} ({d.Device.Node})")));
        }

        foreach (var d in before.Devices.Where(d => !now.ContainsKey(d.Device.Key)).OrderBy(d => d.Device.Label, StringComparer.Ordinal))
        {
            string held = d.Serving is not null ? $"; it served {Range(d.Serving, before.Layers)}" : "";
            changes.Add(new(PoolEventKind.Leave, $"{d.Device.Label} is gone{held}"));
        }

        // A new plan: some device's assignment differs from the last status (devices that left are not a change of
        // plan by themselves; the coordinator re-plans after, and that shows as a change of the ones still here).
        var moved = after.Devices
            .Where(d => old.TryGetValue(d.Device.Key, out var was) ? was.Assigned != d.Assigned : d.Assigned is not null)
            .OrderBy(d => d.ReplicaGroup).ThenBy(d => d.Assigned?.Start ?? int.MaxValue).ThenBy(d => d.Device.Label, StringComparer.Ordinal)
            .ToList();
        bool wasRolling = RollingOut(before);
        bool rolling = RollingOut(after);
        if (moved.Count > 0)
        {
            string moves = string.Join("; ", moved.Select(d =>
            {
                string from = old.TryGetValue(d.Device.Key, out var was) ? Range(was.Assigned, before.Layers) : "new";
                return $"{d.Device.Label} {from} → {Range(d.Assigned, layers)}";
            }));
            string state = rolling ? "loading" : "already serving";
            changes.Add(new(PoolEventKind.Rollout, $"new placement ({state}): {moves}", NewPlan: true));
        }
        else if (wasRolling && !rolling)
        {
            changes.Add(new(PoolEventKind.Rollout, $"rollout finished: every device serves its assignment (route version {after.RouteVersion})"));
        }

        if (before.PlacementStatus != after.PlacementStatus)
        {
            changes.Add(new(PoolEventKind.Placement, $"placement {PlacementStatuses.Describe(before.PlacementStatus, false)} → {PlacementStatuses.Describe(after.PlacementStatus, false)}; {Summary(after)}"));
        }
        else if (before.RouteVersion != after.RouteVersion)
        {
            changes.Add(new(PoolEventKind.Placement, $"route version {before.RouteVersion} → {after.RouteVersion}"));
        }

        var oldNotes = before.Notes.ToHashSet(StringComparer.Ordinal);
        changes.AddRange(after.Notes.Where(n => !oldNotes.Contains(n)).Select(n => new StatusChange(PoolEventKind.Info, n)));
        return changes;
    }

    /// <summary>E.g. "route version 4; 3 devices; redundancy 1 of 1".</summary>
    public static string Summary(StatusMessages.ClusterStatus s) => string.Create(CultureInfo.InvariantCulture,
        $"route version {s.RouteVersion}; {s.Devices.Length} device{(s.Devices.Length == 1 ? "" : "s")}; redundancy {s.RedundancyAchieved} of {s.RedundancyRequested}");

    /// <summary>"[begin..layer.3]", "spare" for none (a range the layer count cannot name stays in numbers).</summary>
    public static string Range(UnitRange? range, int layers) =>
        range is not { } r ? "spare" : layers >= 0 && r.End <= layers + 2 ? r.Describe(layers) : r.ToString();
}
