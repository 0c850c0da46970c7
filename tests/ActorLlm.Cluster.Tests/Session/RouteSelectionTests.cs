using ActorLlm.Cluster.Session;
using ActorLlm.Protocol;
using ActorLlm.Protocol.Messages;
using Akka.Actor;
using Xunit;

namespace ActorLlm.Cluster.Tests.Session;

public class RouteSelectionTests
{
    // 3 layers: units begin, layer.0, layer.1, layer.2, end.
    private const int Layers = 3;
    private const int Units = Layers + 2;

    private static readonly IReadOnlySet<DeviceKey> s_none = new HashSet<DeviceKey>();

    internal static RouteEntry Entry(string node, int start, int end, int sessions = 0, string device = "cpu") =>
        new(ActorRefs.Nobody, new DeviceDescriptor(new NodeAddress(node), device, node, 1L << 30, 10, DType.F32), new UnitRange(start, end), sessions);

    private static double TableLoad(RouteEntry e) => e.ActiveSessions;

    /// <summary>"node/device" to the key of that device.</summary>
    private static DeviceKey Key(string nodeAndDevice) =>
        new(new NodeAddress(nodeAndDevice.Split('/')[0]), nodeAndDevice.Split('/')[1]);

    private static IReadOnlyList<RouteEntry>? Select(IReadOnlyList<RouteEntry> entries, params string[] excluded) =>
        RouteSelection.Select(entries, Units, excluded.Select(Key).ToHashSet(), TableLoad);

    private static string? Describe(IReadOnlyList<RouteEntry>? route) =>
        route is null ? null : RouteSelection.Describe(route, Layers);

    [Fact]
    public void One_stage_serving_every_unit_is_the_route()
    {
        var whole = Entry("a", 0, Units);
        Assert.Equal([whole], Select([whole]));
        Assert.Equal("a:cpu [begin..end]", Describe(Select([whole])));
    }

    [Fact]
    public void Three_stages_chain_in_order()
    {
        var route = Select([Entry("c", 4, 5), Entry("a", 0, 2), Entry("b", 2, 4)]);
        Assert.Equal("a:cpu [begin..layer.0] -> b:cpu [layer.1..layer.2] -> c:cpu [end..end]", Describe(route));
    }

    [Fact]
    public void Of_two_replicas_the_less_loaded_is_taken()
    {
        var table = new[] { Entry("a", 0, 2, sessions: 3), Entry("b", 0, 2, sessions: 1), Entry("c", 2, 5), Entry("d", 2, 5, sessions: 2) };
        Assert.Equal("b:cpu [begin..layer.0] -> c:cpu [layer.1..end]", Describe(Select(table)));

        // The caller's view counts too: jobs this gateway sent to b and c since the table was published.
        var routedHere = new Dictionary<DeviceKey, int> { [Key("b/cpu")] = 5, [Key("c/cpu")] = 3 };
        var route = RouteSelection.Select(table, Units, s_none, e => e.ActiveSessions + routedHere.GetValueOrDefault(e.Device.Key));
        Assert.Equal("a:cpu [begin..layer.0] -> d:cpu [layer.1..end]", Describe(route));
    }

    [Fact]
    public void Fewer_hops_win_when_loads_are_equal()
    {
        var table = new[] { Entry("a", 0, 2), Entry("b", 2, 5), Entry("c", 0, 5) };
        Assert.Equal("c:cpu [begin..end]", Describe(Select(table)));

        // One hop at load 1 costs as much as two idle hops: the tie goes to fewer hops.
        table[2] = Entry("c", 0, 5, sessions: 1);
        Assert.Equal("c:cpu [begin..end]", Describe(Select(table)));

        // One hop at load 2 costs 3, two idle hops cost 2.
        table[2] = Entry("c", 0, 5, sessions: 2);
        Assert.Equal("a:cpu [begin..layer.0] -> b:cpu [layer.1..end]", Describe(Select(table)));
    }

    [Fact]
    public void An_excluded_device_forces_its_replica_even_when_busier()
    {
        var table = new[] { Entry("a", 0, 5), Entry("b", 0, 3, sessions: 4), Entry("c", 3, 5, sessions: 4) };
        Assert.Equal("a:cpu [begin..end]", Describe(Select(table)));
        Assert.Equal("b:cpu [begin..layer.1] -> c:cpu [layer.2..end]", Describe(Select(table, "a/cpu")));
    }

    [Fact]
    public void Exclusion_is_by_device_not_by_node()
    {
        var table = new[] { Entry("n", 0, 5, device: "cuda:0"), Entry("n", 0, 5, sessions: 9, device: "cuda:1") };
        Assert.Equal("n:cuda:1 [begin..end]", Describe(Select(table, "n/cuda:0")));
    }

    [Fact]
    public void No_chain_gives_null()
    {
        Assert.Null(Select([]));
        Assert.Null(Select([Entry("a", 0, 2), Entry("b", 3, 5)]));           // a gap at layer.1
        Assert.Null(Select([Entry("a", 0, 3), Entry("b", 2, 5)]));           // overlapping, not hop after hop
        Assert.Null(Select([Entry("a", 0, 2), Entry("b", 2, 5)], "b/cpu"));  // the only stage for the tail failed
        Assert.Null(Select([Entry("a", 0, 6)]));                              // reaches past the model
        Assert.Null(Select([Entry("a", 1, 5)]));                              // no begin
    }

    [Fact]
    public void A_worker_handing_over_appears_twice_and_either_range_can_be_used()
    {
        // b is growing from [layer.1..end] to [layer.0..end] while a shrinks from [begin..layer.0] to [begin..begin].
        var aOld = Entry("a", 0, 2, sessions: 1);
        var aNew = Entry("a", 0, 1);
        var bOld = Entry("b", 2, 5);
        var bNew = Entry("b", 1, 5, sessions: 2);
        Assert.Equal([aOld, bOld], Select([aOld, aNew, bOld, bNew]));               // cost 3 against 4
        var bNewIdle = bNew with { ActiveSessions = 0 };
        Assert.Equal([aNew, bNewIdle], Select([aOld, aNew, bOld, bNewIdle]));       // 2 against 3

        // A worker may even be two hops of one route, once per range.
        var c1 = Entry("c", 0, 3);
        var c2 = Entry("c", 3, 5);
        Assert.Equal("c:cpu [begin..layer.1] -> c:cpu [layer.2..end]", Describe(Select([c1, c2])));
        Assert.Null(Select([c1, c2], "c/cpu"));
    }

    [Fact]
    public void A_branch_that_dead_ends_is_not_taken_however_attractive_its_first_hop()
    {
        // Idle a/[begin..layer.1] and idle b/[begin..layer.2] lead nowhere (nothing starts at layer.2 but the
        // busy tail, nothing at end). Greedy choices (least loaded, or longest reach) would take them and fail.
        var table = new[]
        {
            Entry("a", 0, 3),
            Entry("b", 0, 4),
            Entry("c", 0, 2, sessions: 5),
            Entry("d", 2, 5, sessions: 5),
        };
        Assert.Equal("c:cpu [begin..layer.0] -> d:cpu [layer.1..end]", Describe(Select(table)));
    }

    [Fact]
    public void Ties_are_broken_by_device_key_whatever_the_entry_order()
    {
        var table = new[] { Entry("b", 0, 5), Entry("c", 0, 5), Entry("a", 0, 5) };
        Assert.Equal("a:cpu [begin..end]", Describe(Select(table)));
        Assert.Equal("a:cpu [begin..end]", Describe(Select(table.Reverse().ToArray())));
    }

    [Fact]
    public void Bad_loads_and_unit_counts_are_refused()
    {
        var table = new[] { Entry("a", 0, 5) };
        Assert.Throws<ArgumentException>(() => RouteSelection.Select(table, Units, s_none, _ => double.NaN));
        Assert.Throws<ArgumentException>(() => RouteSelection.Select(table, Units, s_none, _ => -1));
        Assert.Throws<ArgumentOutOfRangeException>(() => RouteSelection.Select(table, 0, s_none, TableLoad));
    }

    [Fact]
    public void Hops_carry_worker_and_range_in_route_order()
    {
        var route = Select([Entry("a", 0, 2), Entry("b", 2, 5)])!;
        var hops = RouteSelection.Hops(route);
        Assert.Equal([new UnitRange(0, 2), new UnitRange(2, 5)], hops.Select(h => h.Range));
        Assert.All(hops, h => Assert.Same(ActorRefs.Nobody, h.Worker));
        Assert.Equal(2.0, RouteSelection.Cost(route, TableLoad));
    }
}
