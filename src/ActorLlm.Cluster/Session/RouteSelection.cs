using ActorLlm.Protocol;
using ActorLlm.Protocol.Messages;

namespace ActorLlm.Cluster.Session;

/// <summary>
/// Chooses the chain of stages one job runs through. Pure and deterministic: the same entries, exclusions and
/// loads give the same route whatever order the entries come in.
/// </summary>
/// <remarks>
/// The route table is a graph over unit boundaries 0..unitCount: an entry serving [s, e) is an edge s → e costing
/// <c>1 + load(entry)</c>. Every edge points forward, so the graph is acyclic and one pass from the last boundary
/// back to 0 finds the cheapest chain exactly (no greedy choice, so a branch that dead-ends is never taken).
/// The constant 1 per hop makes fewer hops win when loads are equal; the load makes a lightly loaded replica beat
/// a busy one. During a hand-over a worker appears twice, with its old and its new range; both are ordinary edges.
/// </remarks>
public static class RouteSelection
{
    /// <summary>
    /// The cheapest chain of <paramref name="entries"/> covering units [0, <paramref name="unitCount"/>) exactly,
    /// hop after hop (each hop starts where the previous one ends), or null when none exists.
    /// </summary>
    /// <param name="entries">The route table's stages. Entries reaching past <paramref name="unitCount"/> are never used.</param>
    /// <param name="unitCount">Units of the model (layers + 2).</param>
    /// <param name="excludedDevices"><see cref="DeviceDescriptor.Key"/>s of devices that failed for this job: none of their entries is used.</param>
    /// <param name="load">How busy an entry is, as the caller sees it (finite, at least 0); asked once per usable entry.</param>
    /// <remarks>
    /// Ties in cost go to fewer hops, then to the chain whose hops, compared from the first, have the smaller
    /// device key (ordinal), then range end, then range start, then active sessions.
    /// </remarks>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="unitCount"/> is below 1.</exception>
    /// <exception cref="ArgumentException"><paramref name="load"/> gave a negative or non-finite value.</exception>
    public static IReadOnlyList<RouteEntry>? Select(
        IReadOnlyList<RouteEntry> entries,
        int unitCount,
        IReadOnlySet<DeviceKey> excludedDevices,
        Func<RouteEntry, double> load)
    {
        ArgumentNullException.ThrowIfNull(entries);
        ArgumentNullException.ThrowIfNull(excludedDevices);
        ArgumentNullException.ThrowIfNull(load);
        ArgumentOutOfRangeException.ThrowIfLessThan(unitCount, 1);

        var edgesFrom = new List<(RouteEntry Entry, double Cost)>?[unitCount];
        foreach (var entry in entries)
        {
            if (entry.Range.End > unitCount || excludedDevices.Contains(entry.Device.Key))
            {
                continue;
            }

            (edgesFrom[entry.Range.Start] ??= []).Add((entry, HopCost(entry, load)));
        }

        // best[p]: the cheapest chain from boundary p to unitCount, null where unitCount cannot be reached.
        var best = new Chain?[unitCount + 1];
        best[unitCount] = Chain.Empty;
        for (int p = unitCount - 1; p >= 0; p--)
        {
            foreach (var (entry, cost) in edgesFrom[p] ?? [])
            {
                if (best[entry.Range.End] is not { } rest)
                {
                    continue;
                }

                var candidate = new Chain(entry, cost + rest.Cost, rest.Hops + 1, rest);
                if (best[p] is not { } current || Chain.Compare(candidate, current) < 0)
                {
                    best[p] = candidate;
                }
            }
        }

        return best[0]?.ToList();
    }

    /// <summary>The cost <see cref="Select"/> minimises: the sum over hops of <c>1 + load(hop)</c>.</summary>
    public static double Cost(IEnumerable<RouteEntry> route, Func<RouteEntry, double> load) =>
        route.Sum(e => HopCost(e, load));

    /// <summary>The hops a session sends a step along (<see cref="StageMessages.Forward"/> and its <c>Rest</c>).</summary>
    public static RouteHop[] Hops(IEnumerable<RouteEntry> route) =>
        route.Select(e => new RouteHop(e.Worker, e.Range)).ToArray();

    /// <summary>One hop for people: the device's label and its units, e.g. "worker-1:cpu [begin..layer.2]".</summary>
    /// <param name="layers">The model's decoder layers (unit names depend on them).</param>
    public static string Label(RouteEntry entry, int layers) => $"{entry.Device.Label} {entry.Range.Describe(layers)}";

    /// <summary>A route for logs, e.g. "worker-1:cpu [begin..layer.2] -> worker-2:cuda:0 [layer.3..end]".</summary>
    public static string Describe(IEnumerable<RouteEntry> route, int layers) =>
        string.Join(" -> ", route.Select(e => Label(e, layers)));

    private static double HopCost(RouteEntry entry, Func<RouteEntry, double> load)
    {
        double l = load(entry);
        if (!double.IsFinite(l) || l < 0)
        {
            throw new ArgumentException($"load of {entry.Device.Key} {entry.Range} is {l}: loads must be finite and at least 0", nameof(load));
        }

        return 1 + l;
    }

    /// <summary>A chain from some boundary to the end, as a linked list sharing its tail with other chains.</summary>
    private sealed class Chain(RouteEntry? head, double cost, int hops, Chain? rest)
    {
        public static Chain Empty { get; } = new(null, 0, 0, null);

        public RouteEntry? Head { get; } = head;

        public double Cost { get; } = cost;

        public int Hops { get; } = hops;

        public Chain? Rest { get; } = rest;

        public static int Compare(Chain a, Chain b)
        {
            int c = a.Cost.CompareTo(b.Cost);
            if (c != 0)
            {
                return c;
            }

            c = a.Hops.CompareTo(b.Hops);
            for (Chain? x = a, y = b; c == 0 && x?.Head is { } hx && y?.Head is { } hy; x = x.Rest, y = y.Rest)
            {
                c = CompareEntries(hx, hy);
            }

            return c;
        }

        private static int CompareEntries(RouteEntry a, RouteEntry b)
        {
            int c = a.Device.Key.CompareTo(b.Device.Key);
            if (c == 0)
            {
                c = a.Range.End.CompareTo(b.Range.End);
            }

            if (c == 0)
            {
                c = a.Range.Start.CompareTo(b.Range.Start);
            }

            return c != 0 ? c : a.ActiveSessions.CompareTo(b.ActiveSessions);
        }

        public List<RouteEntry> ToList()
        {
            var list = new List<RouteEntry>(Hops);
            for (var c = this; c.Head is { } head; c = c.Rest!)
            {
                list.Add(head);
            }

            return list;
        }
    }
}
