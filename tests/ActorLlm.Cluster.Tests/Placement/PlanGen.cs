using ActorLlm.Cluster.Placement;
using ActorLlm.Protocol;
using FsCheck;
using FsCheck.Fluent;

namespace ActorLlm.Cluster.Tests.Placement;

/// <summary>A random pool: the model, the devices and the redundancy asked.</summary>
public sealed record Pool(IReadOnlyList<UnitPlanInput> Units, IReadOnlyList<DevicePlanInput> Devices, int Redundancy)
{
    public override string ToString() =>
        $"{Units.Count} units ({Units.Sum(u => u.Bytes) / 1e6:0} MB), redundancy {Redundancy}, devices:\n  "
        + string.Join("\n  ", Devices.Select(d => $"{d.Id} on {d.Machine}: {d.MemoryBytes / 1e6:0} MB, speed {d.Speed}"));
}

/// <summary>A pool and a sequence of events on it: toggle device i (join if absent, leave if present), or nothing.</summary>
public sealed record Churn(Pool Pool, IReadOnlyList<bool> InitiallyPresent, IReadOnlyList<int> Events)
{
    public override string ToString() =>
        $"{Pool}\ninitially present: {string.Join("", InitiallyPresent.Select(p => p ? '1' : '0'))}\nevents: {string.Join(", ", Events)}";
}

/// <summary>
/// Generators over the space the brief names: 1-12 devices on 1-6 machines, speeds 0.5-8, memory from a
/// sliver of the model to several copies of it, 3-40 layers of slightly uneven size, redundancy 1-3.
/// </summary>
internal static class PlanGen
{
    private const long Mb = 1_000_000;

    private static readonly Gen<IReadOnlyList<UnitPlanInput>> s_model =
        from layers in Gen.Choose(3, 40)
        from layerMb in Gen.Choose(150, 250).ListOf(layers)
        from beginMb in Gen.Choose(100, 600)
        from endMb in Gen.Choose(100, 600)
        from endCostTenths in Gen.Choose(5, 30)
        select (IReadOnlyList<UnitPlanInput>)Enumerable.Range(0, layers + 2).Select(i =>
            i == 0 ? new UnitPlanInput(0, beginMb * Mb, 0.01)
            : i == layers + 1 ? new UnitPlanInput(i, endMb * Mb, endCostTenths / 10.0)
            : new UnitPlanInput(i, layerMb[i - 1] * Mb, 1.0)).ToList();

    /// <summary>Fractions of the model's bytes a device's weight memory holds: from less than a unit to two copies.</summary>
    private static readonly Gen<double> s_anyMemory = Gen.Elements(0.01, 0.05, 0.1, 0.25, 0.4, 0.6, 0.8, 1.0, 1.3, 2.0);

    private static readonly Gen<double> s_ampleMemory = Gen.Choose(12, 30).Select(tenths => tenths / 10.0);

    public static Arbitrary<Pool> Pools(bool ample = false) => PoolGen(ample).ToArbitrary();

    public static Arbitrary<Churn> Churns(bool ample = false) =>
        (from pool in PoolGen(ample)
         from present in Gen.Elements(true, false).ListOf(pool.Devices.Count)
         from events in Gen.Choose(0, (2 * pool.Devices.Count) - 1).ListOf(8)
         select new Churn(pool, present.ToList(), events.ToList())).ToArbitrary();

    public static Gen<Pool> PoolGen(bool ample) =>
        from units in s_model
        from machines in Gen.Choose(1, 6)
        from count in Gen.Choose(1, 12)
        from specs in Gen.Zip(Gen.Choose(0, machines - 1), Gen.Zip(Gen.Choose(1, 16), ample ? s_ampleMemory : s_anyMemory)).ListOf(count)
        from redundancy in Gen.Choose(1, 3)
        select new Pool(units, Devices(units, specs), redundancy);

    private static List<DevicePlanInput> Devices(IReadOnlyList<UnitPlanInput> units, IEnumerable<(int Machine, (int SpeedHalves, double Memory) Spec)> specs)
    {
        long model = units.Sum(u => u.Bytes);
        return specs.Select((s, i) => new DevicePlanInput(
            new DeviceKey(new NodeAddress($"10.0.0.{s.Machine}:4053"), $"cuda:{i}"),
            $"host-{s.Machine}",
            (long)(s.Spec.Memory * model / 0.9),
            s.Spec.SpeedHalves / 2.0)).ToList();
    }
}
