using ActorLlm.Cluster.Placement;
using ActorLlm.Cluster.Tests.Actors;
using ActorLlm.Protocol;
using ActorLlm.Protocol.Messages;
using Akka.Actor;
using Akka.TestKit.Xunit2;
using FsCheck;
using FsCheck.Fluent;
using Xunit;

namespace ActorLlm.Cluster.Tests.Placement;

/// <summary>The route table as a pure function of the registered devices (the actor system only makes worker refs).</summary>
public sealed class RouteTableBuilderTests : TestKit
{
    private static readonly Config s_config = Config.QuickThrowOnFailure.WithMaxTest(300);
    private static readonly UnitRange[] s_ranges = [new(0, 2), new(0, 4), new(2, 4), new(4, 7), new(0, 7)];

    private readonly IActorRef[] _workers;

    public RouteTableBuilderTests()
        : base(ActorTestConfig.Hocon) => _workers = [.. Enumerable.Range(0, 3).Select(i => CreateTestProbe($"worker-{i}").Ref)];

    [Fact]
    public void The_stages_are_every_range_of_every_reachable_device_by_key_then_range_with_its_load()
    {
        RouteCandidate[] devices =
        [
            Candidate(2, reachable: true, sessions: 5, R(4, 7)),
            Candidate(0, reachable: true, sessions: 1, R(2, 4), R(0, 4), R(0, 2)),
            Candidate(1, reachable: false, sessions: 0, R(0, 7)),
        ];

        var stages = RouteTableBuilder.Stages(devices);

        Assert.Equal(
            [(Key(0), R(0, 2), 1), (Key(0), R(0, 4), 1), (Key(0), R(2, 4), 1), (Key(2), R(4, 7), 5)],
            stages.Select(s => (s.Device.Key, s.Range, s.ActiveSessions)));
        Assert.All(stages, s => Assert.Equal(devices.Single(d => d.Device.Key == s.Device.Key).Worker, s.Worker));
    }

    [Fact]
    public void A_table_is_the_same_when_it_names_the_same_worker_device_and_range_whatever_the_load_or_order()
    {
        var table = RouteTableBuilder.Next(PlacementMessages.RouteTable.Empty, 7, [Candidate(0, true, 0, R(0, 4)), Candidate(1, true, 0, R(4, 7))], PlacementStatus.Complete, loading: false);
        Assert.Equal((1L, 7, PlacementStatus.Complete, false), (table.Version, table.UnitCount, table.Status, table.Loading));

        // Load alone, or another order, is no new table: the same instance comes back.
        Assert.Same(table, RouteTableBuilder.Next(table, 7, [Candidate(1, true, 9, R(4, 7)), Candidate(0, true, 3, R(0, 4))], PlacementStatus.Complete, loading: false));

        // Any stage, status or loading change is a new table with the next version.
        RouteCandidate[][] changed =
        [
            [Candidate(0, true, 0, R(0, 4))],
            [Candidate(0, true, 0, R(0, 4)), Candidate(1, true, 0, R(4, 7), R(3, 7))],
            [Candidate(0, true, 0, R(0, 3)), Candidate(1, true, 0, R(4, 7))],
            [Candidate(0, true, 0, R(0, 4)), Candidate(1, false, 0, R(4, 7))],
            [Candidate(0, true, 0, R(0, 4)), Candidate(1, true, 0, R(4, 7)) with { Worker = _workers[2] }],
        ];
        foreach (var devices in changed)
        {
            Assert.Equal(2, RouteTableBuilder.Next(table, 7, devices, PlacementStatus.Complete, loading: false).Version);
        }

        var same = new[] { Candidate(0, true, 0, R(0, 4)), Candidate(1, true, 0, R(4, 7)) };
        Assert.Equal(2, RouteTableBuilder.Next(table, 7, same, PlacementStatus.Degraded, loading: false).Version);
        Assert.Equal(2, RouteTableBuilder.Next(table, 7, same, PlacementStatus.Complete, loading: true).Version);
    }

    [Fact]
    public void The_stages_do_not_depend_on_the_order_of_devices_or_ranges() =>
        Check.One(s_config, Prop.ForAll(Registries().ToArbitrary(), registry =>
        {
            var shuffled = registry.Reverse().Select(d => d with { Serving = [.. d.Serving.Reverse()] }).ToArray();
            Assert.Equal(RouteTableBuilder.Stages(registry), RouteTableBuilder.Stages(shuffled));
        }));

    [Fact]
    public void Same_stages_is_equality_of_the_sets_of_device_worker_and_range() =>
        Check.One(s_config, Prop.ForAll(Registries().ToArbitrary(), Registries().ToArbitrary(), (x, y) =>
        {
            var a = RouteTableBuilder.Stages(x);
            var b = RouteTableBuilder.Stages(y);
            var setA = a.Select(s => (s.Device.Key, s.Worker, s.Range)).ToHashSet();
            var setB = b.Select(s => (s.Device.Key, s.Worker, s.Range)).ToHashSet();
            Assert.Equal(setA.SetEquals(setB), RouteTableBuilder.SameStages(a, b));
            Assert.True(RouteTableBuilder.SameStages(a, [.. a.Reverse().Select(s => s with { ActiveSessions = s.ActiveSessions + 1 })]));
        }));

    /// <summary>Up to 4 devices (distinct keys), each on one of the workers, serving up to 3 of a handful of ranges.</summary>
    private Gen<RouteCandidate[]> Registries() =>
        from count in Gen.Choose(0, 4)
        from workers in Gen.Choose(0, _workers.Length - 1).ListOf(count)
        from reachable in Gen.Elements(true, true, false).ListOf(count)
        from sessions in Gen.Choose(0, 3).ListOf(count)
        from serving in (from n in Gen.Choose(0, 3) from ranges in Gen.Elements(s_ranges).ListOf(n) select ranges).ListOf(count)
        select Enumerable.Range(0, count)
            .Select(i => new RouteCandidate(_workers[workers[i]], Descriptor(i), reachable[i], [.. serving[i].Distinct()], sessions[i]))
            .ToArray();

    private RouteCandidate Candidate(int device, bool reachable, int sessions, params UnitRange[] serving) =>
        new(_workers[device % _workers.Length], Descriptor(device), reachable, serving, sessions);

    private static DeviceDescriptor Descriptor(int device) =>
        new(new NodeAddress($"akka.tcp://pool@m{device}:2552"), "cpu", $"m{device}", 1_000_000_000, 100, DType.F32);

    private static DeviceKey Key(int device) => Descriptor(device).Key;

    private static UnitRange R(int start, int end) => new(start, end);
}
