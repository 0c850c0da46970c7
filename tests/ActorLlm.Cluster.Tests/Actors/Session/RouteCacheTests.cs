using ActorLlm.Cluster.Session;
using ActorLlm.Protocol;
using ActorLlm.Protocol.Messages;
using Akka.Actor;
using Akka.Remote;
using Akka.TestKit;
using Akka.TestKit.Xunit2;
using Xunit;
using static ActorLlm.Cluster.Tests.Actors.Session.Stages;

namespace ActorLlm.Cluster.Tests.Actors.Session;

/// <summary>
/// The RouteCache keeps the newest table, answers Select with the least loaded covering route (counting what it
/// routed until Done), makes requesters wait for a table that has one, honours exclusions, and routes around a node
/// whose connection dropped until the suspicion lapses. Its stages are probes; no mediator (tables are sent to it
/// directly).
/// </summary>
public sealed class RouteCacheTests : TestKit
{
    private static readonly IReadOnlySet<DeviceKey> s_none = new HashSet<DeviceKey>();
    private readonly TestProbe _coordinator;
    private readonly IActorRef _cache;
    private readonly RouteEntry _front;
    private readonly RouteEntry _back;
    private readonly RouteEntry _replica;

    public RouteCacheTests()
        : base(ActorTestConfig.Hocon)
    {
        _coordinator = CreateTestProbe("coordinator");
        _cache = Sys.ActorOf(RouteCache.Props(ReferenceSettings.RouteCache, _coordinator.Ref, null));
        _front = Entry(CreateTestProbe("a").Ref, "m1", Front);
        _back = Entry(CreateTestProbe("b").Ref, "m2", Back);
        _replica = Entry(CreateTestProbe("b2").Ref, "m3", Back);
    }

    private RouteCache.Selected Select(TestProbe requester, params DeviceKey[] excluded)
    {
        _cache.Tell(new RouteCache.Select(excluded.ToHashSet()), requester.Ref);
        return requester.ExpectMsg<RouteCache.Selected>();
    }

    private PlacementMessages.RouteTable Current()
    {
        var asker = CreateTestProbe();
        _cache.Tell(RouteCache.GetTable.Instance, asker.Ref);
        return asker.ExpectMsg<PlacementMessages.RouteTable>();
    }

    [Fact]
    public void Until_a_table_arrives_it_asks_the_coordinator_and_it_keeps_the_newest_table()
    {
        _coordinator.ExpectMsg<PlacementMessages.GetRoutes>();
        Assert.Equal(0, Current().Version);

        _cache.Tell(Table(3, _front, _back));
        Assert.Equal(3, Current().Version);
        _cache.Tell(Table(2, _front));
        Assert.Equal([_front, _back], Current().Stages);
    }

    [Fact]
    public void After_the_singleton_moves_a_lower_version_of_a_newer_epoch_is_taken_and_the_old_epoch_is_ignored()
    {
        _cache.Tell(Table(epoch: 1, version: 8, _front));
        var waiting = CreateTestProbe();
        _cache.Tell(new RouteCache.Select(s_none), waiting.Ref);

        // The coordinator that took over starts its versions again.
        _cache.Tell(Table(epoch: 2, version: 1, _front, _back));
        Assert.Equal((2L, 1L), (Current().Epoch, Current().Version));
        Assert.Equal([_front, _back], waiting.ExpectMsg<RouteCache.Selected>().Route);

        // A late publication of the old coordinator, with a higher version, is older.
        _cache.Tell(Table(epoch: 1, version: 9, _front));
        Assert.Equal([_front, _back], Current().Stages);
        _cache.Tell(Table(epoch: 2, version: 2, _front, _replica));
        Assert.Equal([_front, _replica], Current().Stages);
    }

    [Fact]
    public void It_keeps_asking_while_the_coordinator_answers_without_a_table_and_stops_once_it_has_one()
    {
        // A coordinator that has just started answers with its empty table (version 0): not an answer to stop at.
        _coordinator.ExpectMsg<PlacementMessages.GetRoutes>();
        _coordinator.Reply(PlacementMessages.RouteTable.Empty with { Epoch = 3 });
        _coordinator.ExpectMsg<PlacementMessages.GetRoutes>(TimeSpan.FromSeconds(5));
        _coordinator.Reply(Table(epoch: 3, version: 1, _front, _back));
        Assert.Equal(1, Current().Version);

        // Requests the timer sent before the table arrived may be queued; after them, none.
        _coordinator.ReceiveWhile(TimeSpan.Zero, m => m as PlacementMessages.GetRoutes);
        _coordinator.ExpectNoMsg(ReferenceSettings.RouteCache.TableRequestInterval * 2.5);
    }

    [Fact]
    public void Select_gives_a_covering_route_and_spreads_jobs_over_replicas_counting_them_until_done()
    {
        _cache.Tell(Table(1, _front, _back, _replica));
        var requester = CreateTestProbe();

        var first = Select(requester);
        Assert.Equal([_front, _back], first.Route);
        Assert.Equal(1, first.TableVersion);

        // The first job is counted on m2's stage, so the next goes to its replica; then they are even again.
        Assert.Equal([_front, _replica], Select(requester).Route);
        Assert.Equal([_front, _back], Select(requester).Route);
        Assert.Equal([_front, _replica], Select(requester).Route);

        // Two jobs on each; two of m2's are done: m2 is the less loaded.
        _cache.Tell(new RouteCache.Done(first.Route));
        _cache.Tell(new RouteCache.Done(first.Route));
        Assert.Equal([_front, _back], Select(requester).Route);
        Assert.Equal([_front, _back], Select(requester).Route);
    }

    [Fact]
    public void The_load_a_published_table_reports_counts_too()
    {
        _cache.Tell(Table(1, _front, _back with { ActiveSessions = 4 }, _replica with { ActiveSessions = 1 }));
        Assert.Equal(_replica.Device, Select(CreateTestProbe()).Route[1].Device);
    }

    [Fact]
    public void A_select_waits_for_a_table_with_a_complete_route_and_a_cancelled_one_gets_nothing()
    {
        _cache.Tell(Table(1, _front));
        var waiting = CreateTestProbe();
        var cancelling = CreateTestProbe();
        _cache.Tell(new RouteCache.Select(s_none), waiting.Ref);
        _cache.Tell(new RouteCache.Select(s_none), cancelling.Ref);

        // The cache handles its mailbox in order and probes take a message as it is sent: once it has answered a
        // later request, an answer to an earlier one would be queued already.
        Current();
        waiting.ExpectNoMsg(TimeSpan.Zero);
        _cache.Tell(RouteCache.CancelSelect.Instance, cancelling.Ref);

        _cache.Tell(Table(2, _front, _back));
        var selected = waiting.ExpectMsg<RouteCache.Selected>();
        Assert.Equal([_front, _back], selected.Route);
        Assert.Equal(2, selected.TableVersion);
        Current();
        cancelling.ExpectNoMsg(TimeSpan.Zero);
    }

    [Fact]
    public void Excluded_devices_are_routed_around_and_used_only_when_nothing_else_covers_the_model()
    {
        _cache.Tell(Table(1, _front, _back, _replica));
        var requester = CreateTestProbe();
        Assert.Equal([_front, _replica], Select(requester, Key("m2")).Route);
        Assert.Equal([_front, _back], Select(requester, Key("m3")).Route);

        // Both back replicas excluded: a failed step need not mean a dead device, and it is the only way to serve.
        var fallback = Select(requester, Key("m2"), Key("m3")).Route;
        Assert.Equal(_front, fallback[0]);
        Assert.Contains(fallback[1], new[] { _back, _replica });

        // Once another replica exists, the excluded ones are avoided again.
        var another = Entry(CreateTestProbe("b3").Ref, "m4", Back);
        _cache.Tell(Table(2, _front, _back, _replica, another));
        Assert.Equal([_front, another], Select(requester, Key("m2"), Key("m3")).Route);
    }

    [Fact]
    public void A_node_whose_connection_dropped_is_announced_as_suspected_and_routed_around()
    {
        _cache.Tell(Table(1, _front, _back, _replica));
        Assert.Equal(1, Current().Version);
        var listener = CreateTestProbe();
        Sys.EventStream.Subscribe(listener.Ref, typeof(RouteCache.NodeSuspected));

        Sys.EventStream.Publish(new DisassociatedEvent(Akka.Cluster.Cluster.Get(Sys).SelfAddress, Address.Parse(NodeOf("m2").Value), inbound: false));
        var suspected = listener.ExpectMsg<RouteCache.NodeSuspected>();
        Assert.Equal(NodeOf("m2"), suspected.Node);
        Assert.Equal("connection lost", suspected.Why);

        // Even with m3's stage busier, m2's is not used while suspected.
        _cache.Tell(Table(2, _front, _back, _replica with { ActiveSessions = 5 }));
        Assert.Equal([_front, _replica with { ActiveSessions = 5 }], Select(CreateTestProbe()).Route);
    }

    [Fact]
    public void A_suspicion_lapses_when_the_node_has_not_become_unreachable_by_then()
    {
        var lapse = TimeSpan.FromMilliseconds(300);
        var cache = Sys.ActorOf(RouteCache.Props(ReferenceSettings.RouteCache with { SuspicionLapse = lapse }, _coordinator.Ref, null));
        var busy = _replica with { ActiveSessions = 5 };
        cache.Tell(Table(1, _front, _back, busy));
        var requester = CreateTestProbe();
        IReadOnlyList<RouteEntry> Route()
        {
            cache.Tell(new RouteCache.Select(s_none), requester.Ref);
            return requester.ExpectMsg<RouteCache.Selected>().Route;
        }

        Assert.Equal([_front, _back], Route());

        // Published synchronously: the event is in the cache's mailbox before the next Select.
        Sys.EventStream.Publish(new DisassociatedEvent(Akka.Cluster.Cluster.Get(Sys).SelfAddress, Address.Parse(NodeOf("m2").Value), inbound: false));
        Assert.Equal([_front, busy], Route());

        // The test system's cluster never marks m2 unreachable, so the suspicion lapses and m2 (less loaded) is back.
        AwaitAssert(() => Assert.Equal([_front, _back], Route()), lapse * 10, TimeSpan.FromMilliseconds(100));
    }
}
