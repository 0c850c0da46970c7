using ActorLlm.Cluster.Placement;
using ActorLlm.Protocol;

namespace ActorLlm.Cluster.Tests.Placement;

/// <summary>Builders for hand-written pools and models.</summary>
internal static class Pools
{
    public const long Gb = 1_000_000_000;

    /// <summary>A GPU on <paramref name="machine"/>; the node address is the machine's, as when one node runs per host.</summary>
    public static DevicePlanInput Gpu(string machine, int index, double memoryGb, double speed = 1.0) =>
        new(new DeviceKey(new NodeAddress(machine), $"cuda:{index}"), machine, (long)(memoryGb * Gb), speed);

    /// <summary>A model of <paramref name="layers"/> layers of 1 GB (cost 1), a 1 GB begin (cost 0.01) and a 1 GB end (cost <paramref name="endCost"/>).</summary>
    public static IReadOnlyList<UnitPlanInput> Model(int layers, long unitBytes = Gb, double endCost = 1.0) =>
        Enumerable.Range(0, layers + 2)
            .Select(i => new UnitPlanInput(i, unitBytes, i == 0 ? 0.01 : i == layers + 1 ? endCost : 1.0))
            .ToList();

    public static long Bytes(IReadOnlyList<UnitPlanInput> units, ActorLlm.Protocol.UnitRange range) =>
        units.Skip(range.Start).Take(range.Count).Sum(u => u.Bytes);

    public static double Cost(IReadOnlyList<UnitPlanInput> units, ActorLlm.Protocol.UnitRange range) =>
        units.Skip(range.Start).Take(range.Count).Sum(u => u.Cost);

    /// <summary>The unit indices a set of loads covers, one entry per load per unit (so duplicates show).</summary>
    public static List<int> UnitsOf(IEnumerable<UnitLoad> loads) =>
        loads.SelectMany(l => Enumerable.Range(l.Units.Start, l.Units.Count)).Order().ToList();
}
