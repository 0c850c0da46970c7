using ActorLlm.Protocol;

namespace ActorLlm.Cluster.Placement;

/// <summary>Cutting a run of units into contiguous ranges for devices in pipeline order.</summary>
internal static class RangeSplit
{
    /// <summary>
    /// Splits <c>[from, to)</c> over <paramref name="ordered"/> so each device's cost share is as close to its
    /// share of the speed as memory allows. Returns one range per device (null: the device gets nothing) or null
    /// when no split in this order fits memory.
    /// </summary>
    /// <remarks>
    /// Each cut is the boundary nearest the cumulative speed-proportional target, so a device's share is off by
    /// at most one unit's cost. Memory clamps each cut into a window: no further than the device can hold, and no
    /// earlier than what the devices after it can still cover (computed backwards first). That window is never
    /// empty once the whole run is coverable, so clamping keeps the split feasible.
    /// </remarks>
    public static UnitRange?[]? Proportional(UnitTable units, IReadOnlyList<DevicePlanInput> ordered, Func<DevicePlanInput, long> capacity, int from, int to)
    {
        int count = ordered.Count;
        if (count == 0)
        {
            return from == to ? [] : null;
        }

        // earliestCut[i]: the earliest cut after device i from which devices i+1.. can still cover up to `to`.
        var earliestCut = new int[count];
        earliestCut[count - 1] = to;
        for (int i = count - 1; i > 0; i--)
        {
            earliestCut[i - 1] = units.ReachBackward(earliestCut[i], from, capacity(ordered[i]));
        }

        if (units.ReachBackward(earliestCut[0], from, capacity(ordered[0])) != from)
        {
            return null;
        }

        double totalSpeed = ordered.Sum(d => d.Speed);
        double runCost = units.Cost(from, to);
        double speedSoFar = 0;
        var ranges = new UnitRange?[count];
        int previous = from;
        for (int i = 0; i < count; i++)
        {
            speedSoFar += ordered[i].Speed;
            int cut = to;
            if (i < count - 1)
            {
                double target = units.CostBefore(from) + (runCost * speedSoFar / totalSpeed);
                int ideal = units.NearestBoundary(target, previous, to);
                int furthest = units.ReachForward(previous, to, capacity(ordered[i]));
                cut = Math.Clamp(ideal, Math.Max(previous, earliestCut[i]), furthest);
            }

            ranges[i] = cut > previous ? new UnitRange(previous, cut) : null;
            previous = cut;
        }

        return ranges;
    }

    /// <summary>
    /// Splits a whole pipeline over <paramref name="devices"/>, trying a few pipeline orders (memory can fit in one
    /// order and not another when units differ in size). Machines whose devices all get nothing are dropped and
    /// the rest re-split, so every machine left in the group serves something and shares are proportional over
    /// exactly the devices of those machines. Returns null when no order fits.
    /// </summary>
    /// <param name="time">In a streaming plan, seconds per token of a device on a range: the split then minimises the
    /// slowest stage (see <see cref="MinMax"/>) and the order with the fastest pipeline wins, faster links first on ties.</param>
    public static List<Slot>? WholePipeline(UnitTable units, IReadOnlyList<DevicePlanInput> devices, Func<DevicePlanInput, long> capacity, Func<DevicePlanInput, UnitRange, double>? time = null)
    {
        var byKey = devices.OrderBy(d => d.Id).ToList();
        if (time is not null)
        {
            return Streamed(units, byKey, capacity, time);
        }

        IEnumerable<DevicePlanInput>[] orders =
        [
            // Same-machine devices adjacent: fewer hops between hosts.
            byKey.OrderBy(d => d.Machine, StringComparer.Ordinal),
            byKey.OrderByDescending(capacity),
            byKey.OrderBy(capacity),
        ];
        foreach (var order in orders)
        {
            var candidates = order.ToList();
            while (candidates.Count > 0)
            {
                var ranges = Proportional(units, candidates, capacity, 0, units.Count);
                if (ranges is null)
                {
                    break;
                }

                var servingMachines = candidates.Where((_, i) => ranges[i] is not null).Select(d => d.Machine).ToHashSet();
                if (candidates.All(d => servingMachines.Contains(d.Machine)))
                {
                    return candidates.Select((d, i) => (d, ranges[i])).Where(x => x.Item2 is not null)
                        .Select(x => new Slot(x.d, x.Item2!.Value)).ToList();
                }

                candidates = candidates.Where(d => servingMachines.Contains(d.Machine)).ToList();
            }
        }

        return null;
    }

    private static List<Slot>? Streamed(UnitTable units, List<DevicePlanInput> byKey, Func<DevicePlanInput, long> capacity, Func<DevicePlanInput, UnitRange, double> time)
    {
        IEnumerable<DevicePlanInput>[] orders =
        [
            byKey.OrderByDescending(d => d.HostToDeviceBytesPerSecond).ThenBy(d => d.Machine, StringComparer.Ordinal),
            byKey.OrderBy(d => d.Machine, StringComparer.Ordinal),
            byKey.OrderByDescending(capacity),
            byKey.OrderBy(capacity),
        ];
        List<Slot>? best = null;
        double bestTime = double.PositiveInfinity;
        foreach (var order in orders)
        {
            var candidates = order.ToList();
            var ranges = MinMax(units, candidates, capacity, time, 0, units.Count);
            if (ranges is null)
            {
                continue;
            }

            var slots = candidates.Select((d, i) => (d, ranges[i])).Where(x => x.Item2 is not null).Select(x => new Slot(x.d, x.Item2!.Value)).ToList();
            double slowest = slots.Max(s => time(s.Device, s.Range));
            if (slowest < bestTime * (1 - 1e-12))
            {
                best = slots;
                bestTime = slowest;
            }
        }

        return best;
    }

    /// <summary>
    /// Splits <c>[from, to)</c> over <paramref name="ordered"/> so the slowest stage is as fast as it can be in this
    /// order: the least bottleneck T for which each device in turn, taking the longest run it can hold whose time stays
    /// within T, covers the run (bisection on T; a device's time grows with its range). Null when memory cannot cover it.
    /// </summary>
    public static UnitRange?[]? MinMax(UnitTable units, IReadOnlyList<DevicePlanInput> ordered, Func<DevicePlanInput, long> capacity, Func<DevicePlanInput, UnitRange, double> time, int from, int to)
    {
        var loose = Greedy(units, ordered, capacity, time, from, to, double.PositiveInfinity);
        if (loose is null)
        {
            return null;
        }

        double high = ordered.Select((d, i) => loose[i] is { } r ? time(d, r) : 0).Max();
        double low = 0;
        var best = loose;
        for (int step = 0; step < 60 && high - low > high * 1e-9; step++)
        {
            double mid = (low + high) / 2;
            var split = Greedy(units, ordered, capacity, time, from, to, mid);
            if (split is null)
            {
                low = mid;
            }
            else
            {
                best = split;
                high = mid;
            }
        }

        return best;
    }

    private static UnitRange?[]? Greedy(UnitTable units, IReadOnlyList<DevicePlanInput> ordered, Func<DevicePlanInput, long> capacity, Func<DevicePlanInput, UnitRange, double> time, int from, int to, double limit)
    {
        var ranges = new UnitRange?[ordered.Count];
        int previous = from;
        for (int i = 0; i < ordered.Count && previous < to; i++)
        {
            int furthest = units.ReachForward(previous, to, capacity(ordered[i]));
            int cut = previous;
            while (cut < furthest && time(ordered[i], new UnitRange(previous, cut + 1)) <= limit)
            {
                cut++;
            }

            ranges[i] = cut > previous ? new UnitRange(previous, cut) : null;
            previous = cut;
        }

        return previous == to ? ranges : null;
    }
}
