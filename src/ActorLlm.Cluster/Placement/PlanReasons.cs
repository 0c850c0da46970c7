using System.Globalization;
using ActorLlm.Protocol;

namespace ActorLlm.Cluster.Placement;

/// <summary>Why a plan falls short, in words an operator can act on.</summary>
internal static class PlanReasons
{
    public static List<string> Explain(WorkingPlan plan, IReadOnlyList<DevicePlanInput> devices, int redundancy, double headroom)
    {
        var units = plan.Units;
        var replicas = plan.Replicas();
        int achieved = replicas.Min();
        var reasons = new List<string>();
        if (achieved == 0)
        {
            reasons.Add(WhyUncovered(plan, devices, headroom));
            reasons.Add($"uncovered: {string.Join(", ", Runs(replicas, r => r == 0).Select(units.Name))}");
        }
        else if (achieved < redundancy)
        {
            int machines = devices.Select(d => d.Machine).Distinct().Count();
            string cause = machines < redundancy
                ? $"only {machines} machine(s)"
                : $"the pool's machines cannot form {redundancy} disjoint groups that each hold the model ({Size(units.TotalBytes)})";
            reasons.Add($"redundancy {redundancy} asked, {achieved} achieved: {cause}");
            if (replicas.Any(r => r >= redundancy))
            {
                reasons.Add($"short of {redundancy} replicas: {string.Join(", ", Runs(replicas, r => r < redundancy).Select(units.Name))}");
            }
        }

        return reasons;
    }

    private static string WhyUncovered(WorkingPlan plan, IReadOnlyList<DevicePlanInput> devices, double headroom)
    {
        var units = plan.Units;
        if (devices.Count == 0)
        {
            return $"no devices in the pool; model needs {Size(units.TotalBytes)}";
        }

        long usable = devices.Sum(plan.Capacity);
        long raw = devices.Sum(d => d.MemoryBytes);
        if (usable < units.TotalBytes)
        {
            return $"pool has {Size(usable)} of memory for weights ({(headroom * 100).ToString("0.#", CultureInfo.InvariantCulture)}% of {Size(raw)}), model needs {Size(units.TotalBytes)}";
        }

        long largest = devices.Max(plan.Capacity);
        if (largest < units.MaxUnitBytes)
        {
            return $"the largest unit needs {Size(units.MaxUnitBytes)}; the largest device holds {Size(largest)} of weights";
        }

        return $"pool has {Size(usable)} of memory for weights and the model needs {Size(units.TotalBytes)}, but no contiguous split fits the devices";
    }

    /// <summary>Maximal runs of units whose replica count matches.</summary>
    private static IEnumerable<UnitRange> Runs(int[] replicas, Func<int, bool> match)
    {
        int start = -1;
        for (int u = 0; u <= replicas.Length; u++)
        {
            bool inRun = u < replicas.Length && match(replicas[u]);
            if (inRun && start < 0)
            {
                start = u;
            }
            else if (!inRun && start >= 0)
            {
                yield return new UnitRange(start, u);
                start = -1;
            }
        }
    }

    public static string Size(long bytes)
    {
        (double scale, string unit) = bytes switch
        {
            >= 1_000_000_000 => (1e9, "GB"),
            >= 1_000_000 => (1e6, "MB"),
            >= 1_000 => (1e3, "KB"),
            _ => (1.0, "B"),
        };
        return (bytes / scale).ToString("0.#", CultureInfo.InvariantCulture) + " " + unit;
    }
}
