using ActorLlm.Protocol;
using ActorLlm.Protocol.Messages;
using Akka.Actor;

namespace ActorLlm.Cluster.Placement;

/// <summary>What the route table needs to know of one registered device.</summary>
/// <param name="Serving">The ranges it has loaded and not released.</param>
/// <param name="ActiveSessions">Its last reported load, carried in the table for route choice.</param>
/// <param name="Streamed">How many layers of a range it serves are streamed from host memory (null: none).</param>
public sealed record RouteCandidate(IActorRef Worker, DeviceDescriptor Device, bool Reachable, IReadOnlyCollection<UnitRange> Serving, int ActiveSessions, Func<UnitRange, int>? Streamed = null);

/// <summary>
/// The route table the coordinator publishes, as a pure function of the registered devices and the rollout's status.
/// </summary>
public static class RouteTableBuilder
{
    /// <summary>
    /// The stages routes may use now: every range every reachable device serves, ordered by device key, then range,
    /// whatever order the devices and ranges come in.
    /// </summary>
    public static RouteEntry[] Stages(IEnumerable<RouteCandidate> devices) =>
        [.. devices
            .Where(d => d.Reachable)
            .OrderBy(d => d.Device.Key)
            .SelectMany(d => d.Serving
                .OrderBy(s => s.Start)
                .ThenBy(s => s.End)
                .Select(s => new RouteEntry(d.Worker, d.Device, s, d.ActiveSessions, d.Streamed?.Invoke(s) ?? 0)))];

    /// <summary>
    /// True when both lists name the same stages in any order, a stage being a device (by key), the worker that serves
    /// it and a range. A stage's load (<see cref="RouteEntry.ActiveSessions"/>) and the device's measurements are not
    /// part of it: load reports arrive every few seconds from every stage, and a table is not republished for them
    /// (the figures ride along with the next table that is).
    /// </summary>
    public static bool SameStages(IReadOnlyCollection<RouteEntry> a, IReadOnlyCollection<RouteEntry> b)
    {
        if (a.Count != b.Count)
        {
            return false;
        }

        var counts = new Dictionary<Stage, int>();
        foreach (var stage in a.Select(Stage.Of))
        {
            counts[stage] = counts.GetValueOrDefault(stage) + 1;
        }

        foreach (var stage in b.Select(Stage.Of))
        {
            int left = counts.GetValueOrDefault(stage) - 1;
            if (left < 0)
            {
                return false;
            }

            counts[stage] = left;
        }

        return true;
    }

    /// <summary>
    /// The table to publish after <paramref name="last"/>: <paramref name="last"/> itself (the same instance) when its
    /// stages, status and loading flag are still right, else a new table with the next version (of the same epoch).
    /// </summary>
    public static PlacementMessages.RouteTable Next(PlacementMessages.RouteTable last, int unitCount, IEnumerable<RouteCandidate> devices, PlacementStatus status, bool loading)
    {
        var stages = Stages(devices);
        return status == last.Status && loading == last.Loading && SameStages(stages, last.Stages)
            ? last
            : new PlacementMessages.RouteTable(last.Version + 1, unitCount, stages, status, loading, last.Epoch);
    }

    private readonly record struct Stage(DeviceKey Device, IActorRef Worker, UnitRange Range)
    {
        public static Stage Of(RouteEntry e) => new(e.Device.Key, e.Worker, e.Range);
    }
}
