using ActorLlm.Cluster.Placement;
using ActorLlm.Inference.Execution;
using ActorLlm.Protocol;
using FsCheck;
using FsCheck.Fluent;
using Xunit;

namespace ActorLlm.Cluster.Tests.Placement;

/// <summary>
/// The planner's streaming cost model: a device that reports host memory it may pin and a host-to-device bandwidth may
/// serve more layers than it holds, each streamed layer costing max(compute, bytes / bandwidth); the planner streams
/// only when the pool cannot hold the model resident.
/// </summary>
public class StreamedPlannerPropertyTests
{
    private const long Mb = 1_000_000;
    private static readonly Config s_config = Config.QuickThrowOnFailure.WithMaxTest(300);

    /// <summary>A pool whose devices report memory, pinnable host memory and bandwidth: any of them may be too small or absent.</summary>
    private static Gen<Pool> StreamingPools() =>
        from layers in Gen.Choose(3, 32)
        from layerMb in Gen.Choose(150, 250).ListOf(layers)
        from beginMb in Gen.Choose(20, 300)
        from endMb in Gen.Choose(20, 300)
        from machines in Gen.Choose(1, 4)
        from count in Gen.Choose(1, 6)
        from specs in Gen.Zip(
            Gen.Zip(Gen.Choose(0, machines - 1), Gen.Choose(1, 16)),
            Gen.Zip(Gen.Elements(0.02, 0.1, 0.2, 0.35, 0.5, 0.8, 1.2), Gen.Zip(Gen.Elements(0.0, 0.1, 0.5, 1.0, 2.0), Gen.Elements(0.0, 0.05, 0.5, 2.0, 20.0)))).ListOf(count)
        from redundancy in Gen.Choose(1, 2)
        let units = Model(layers, layerMb, beginMb, endMb)
        select new Pool(units, Devices(units, specs.Select(s => (s.Item1.Item1, s.Item1.Item2 / 2.0, s.Item2.Item1, s.Item2.Item2.Item1, s.Item2.Item2.Item2))), redundancy);

    private static List<UnitPlanInput> Model(int layers, IReadOnlyList<int> layerMb, int beginMb, int endMb) =>
        Enumerable.Range(0, layers + 2).Select(i =>
            i == 0 ? new UnitPlanInput(0, beginMb * Mb, 0.01)
            : i == layers + 1 ? new UnitPlanInput(i, endMb * Mb, 0.5)
            : new UnitPlanInput(i, layerMb[i - 1] * Mb, 1.0)).ToList();

    /// <summary>Devices with memory and pinnable memory as fractions of the model, bandwidth in GB/s (0: none).</summary>
    private static List<DevicePlanInput> Devices(IReadOnlyList<UnitPlanInput> units, IEnumerable<(int Machine, double Speed, double Memory, double Pinnable, double GbPerSecond)> specs)
    {
        long model = units.Sum(u => u.Bytes);
        return specs.Select((s, i) => new DevicePlanInput(
            new DeviceKey(new NodeAddress($"10.0.0.{s.Machine}:4053"), $"cuda:{i}"),
            $"host-{s.Machine}",
            (long)(s.Memory * model / 0.9),
            s.Speed,
            (long)(s.Pinnable * model),
            s.GbPerSecond * 1e9)).ToList();
    }

    private static (long[] Layers, long Fixed) Split(IReadOnlyList<UnitPlanInput> units, UnitRange range)
    {
        var inRange = units.Skip(range.Start).Take(range.Count).ToList();
        bool IsLayer(UnitPlanInput u) => u.Index > 0 && u.Index < units.Count - 1;
        return (inRange.Where(IsLayer).Select(u => u.Bytes).ToArray(), inRange.Where(u => !IsLayer(u)).Sum(u => u.Bytes));
    }

    [Fact]
    public void Streamed_plans_never_put_more_on_a_device_than_its_budget_and_its_pinnable_memory_cover() =>
        Check.One(s_config, Prop.ForAll(StreamingPools().ToArbitrary(), pool =>
        {
            var plan = Planner.Plan(pool.Devices, pool.Units, pool.Redundancy);
            var byKey = pool.Devices.ToDictionary(d => d.Id);
            var replicas = new int[pool.Units.Count];
            foreach (var a in plan.Assignments)
            {
                var device = byKey[a.Device];
                long budget = (long)Math.Floor(device.MemoryBytes * 0.9);
                var (layers, fixedBytes) = Split(pool.Units, a.Range);
                Assert.InRange(a.StreamedLayers, 0, layers.Length);
                Assert.Equal(StreamLayout.StreamedLayers(layers, fixedBytes, budget), a.StreamedLayers);
                long onDevice = StreamLayout.DeviceBytes(layers, fixedBytes, a.StreamedLayers);
                long onHost = StreamLayout.HostBytes(layers, a.StreamedLayers);
                Assert.True(onDevice <= budget, $"{a.Device} holds {onDevice} bytes resident, its budget is {budget}\n{plan}");
                Assert.True(onHost <= device.PinnableBytes, $"{a.Device} streams {onHost} bytes, may pin {device.PinnableBytes}\n{plan}");
                Assert.True(a.StreamedLayers == 0 || device.CanStream, $"{a.Device} streams without bandwidth or pinnable memory\n{plan}");
                for (int u = a.Range.Start; u < a.Range.End; u++)
                {
                    replicas[u]++;
                }
            }

            Assert.Equal(replicas, plan.UnitReplicas);
        }));

    [Fact]
    public void A_pool_that_holds_the_model_resident_streams_nothing_and_plans_as_without_streaming() =>
        Check.One(s_config, Prop.ForAll(StreamingPools().ToArbitrary(), pool =>
        {
            var resident = pool.Devices.Select(d => d with { PinnableBytes = 0, HostToDeviceBytesPerSecond = 0 }).ToList();
            var withoutStreaming = Planner.Plan(resident, pool.Units, pool.Redundancy);
            var plan = Planner.Plan(pool.Devices, pool.Units, pool.Redundancy);
            if (withoutStreaming.Status != PlacementStatus.Insufficient)
            {
                Assert.All(plan.Assignments, a => Assert.Equal(0, a.StreamedLayers));
                Assert.Equal(withoutStreaming.Describe(), plan.Describe());
            }

            // Otherwise the resident heuristic fell short and nothing is claimed here: the streaming planner may stream,
            // or find a resident packing the heuristic missed (FsCheck found one in CI, 2026-12-03).
        }));

    [Fact]
    public void An_unchanged_pool_replans_a_streamed_plan_to_the_same_assignments() =>
        Check.One(s_config, UnchangedReplan());

    /// <summary>
    /// The case FsCheck found (CI, 2026-12-03): the resident fresh plan fell short, so the first plan streamed to reach
    /// redundancy 2; the re-plan repaired it into a resident plan of one replica (a repair knows nothing of streaming).
    /// </summary>
    [Fact]
    public void An_unchanged_pool_keeps_the_replicas_streaming_gave_it() =>
        Check.One(s_config.WithReplay(2395728110354048417UL, 3248348512217711201UL, 73).WithMaxTest(1), UnchangedReplan());

    private static Property UnchangedReplan() =>
        Prop.ForAll(StreamingPools().ToArbitrary(), pool =>
        {
            var plan = Planner.Plan(pool.Devices, pool.Units, pool.Redundancy);
            var again = Planner.Plan(pool.Devices.Reverse().ToList(), pool.Units, pool.Redundancy, plan);
            Assert.Equal(plan.Assignments, again.Assignments);
            Assert.Empty(Planner.Moves(plan, again));
        });

    [Fact]
    public void A_faster_link_takes_at_least_as_many_streamed_layers() =>
        Check.One(s_config, Prop.ForAll(
            (from layers in Gen.Choose(6, 40)
             from residentLayers in Gen.Choose(0, 5)
             from slowGb in Gen.Elements(0.02, 0.1, 0.2, 0.5, 1.0)
             from factor in Gen.Elements(1.5, 2.0, 4.0, 10.0)
             from speed in Gen.Elements(0.5, 2.0, 8.0)
             from fastFirst in Gen.Elements(true, false)
             select (layers, residentLayers, slowGb, factor, speed, fastFirst)).ToArbitrary(),
            c =>
            {
                // Even layers, begin and end alike, so the two devices differ in their link alone.
                var units = Model(c.layers, Enumerable.Repeat(200, c.layers).ToList(), 50, 50);
                long model = units.Sum(u => u.Bytes);

                // Each holds its begin or end unit, the ring and a few layers of its own: neither holds half the model.
                long memory = (long)Math.Ceiling(((2 * 50) + ((StreamLayout.DefaultRingSlots + 1 + c.residentLayers) * 200)) * Mb / 0.9);
                var slow = new DevicePlanInput(new DeviceKey(new NodeAddress(c.fastFirst ? "b" : "a"), "cuda:0"), c.fastFirst ? "b" : "a", memory, c.speed, 2 * model, c.slowGb * 1e9);
                var fast = new DevicePlanInput(new DeviceKey(new NodeAddress(c.fastFirst ? "a" : "b"), "cuda:0"), c.fastFirst ? "a" : "b", memory, c.speed, 2 * model, c.slowGb * c.factor * 1e9);
                var plan = Planner.Plan([slow, fast], units, 1);
                Assert.Equal(PlacementStatus.Complete, plan.Status);
                int Streamed(DevicePlanInput d) => plan.AssignmentOf(d.Id)?.StreamedLayers ?? 0;
                Assert.True(Streamed(fast) >= Streamed(slow), $"fast link streams {Streamed(fast)}, slow {Streamed(slow)}\n{plan}");
            }));

    [Fact]
    public void One_gpu_with_4_GiB_and_host_memory_serves_an_8B_shape_by_streaming()
    {
        // Llama-3-8B in bf16: 1.05 GB embedding and head, 32 layers of 436 MB; an H200 link of 55 GB/s.
        var units = Enumerable.Range(0, 34).Select(i => new UnitPlanInput(i, i is 0 or 33 ? 1_050_673_152 : 436_207_616, i == 0 ? 0.01 : i == 33 ? 2.4 : 1.0)).ToList();
        var gpu = new DevicePlanInput(new DeviceKey(new NodeAddress("gpu"), "cuda:0"), "gpu", (long)(4L * 1024 * 1024 * 1024 / 0.9), 1300, 100L * 1024 * 1024 * 1024, 55e9);
        var plan = Planner.Plan([gpu], units, 1);
        Assert.Equal(PlacementStatus.Complete, plan.Status);
        var a = Assert.Single(plan.Assignments);
        Assert.Equal(new UnitRange(0, 34), a.Range);

        // 4 GiB (4.29 GB) less 2.10 GB of embedding and head less a ring of two layers (0.87 GB) leaves 1.32 GB: 3
        // layers resident, 29 streamed (12.6 GB a token).
        Assert.Equal(29, a.StreamedLayers);
        Assert.Contains("29 layers streamed", plan.Describe(), StringComparison.Ordinal);
        Assert.Contains(plan.Reasons, r => r.StartsWith("streaming plan", StringComparison.Ordinal));

        // Without a link it cannot serve the model.
        Assert.Equal(PlacementStatus.Insufficient, Planner.Plan([gpu with { HostToDeviceBytesPerSecond = 0 }], units, 1).Status);
    }
}
