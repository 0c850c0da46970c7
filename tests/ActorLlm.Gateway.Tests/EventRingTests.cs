using ActorLlm.Gateway.Dashboard;
using Xunit;

namespace ActorLlm.Gateway.Tests;

public sealed class EventRingTests
{
    [Fact]
    public void Events_are_numbered_from_1_and_read_back_oldest_first_after_an_id()
    {
        var ring = new EventRing(10);
        Assert.Equal(0, ring.LastId);
        Assert.Empty(ring.Since(0));
        for (int i = 1; i <= 4; i++)
        {
            Assert.Equal(i, ring.Add(PoolEventKind.Info, $"e{i}").Id);
        }

        Assert.Equal(["e1", "e2", "e3", "e4"], ring.Since(0).Select(e => e.Message));
        Assert.Equal(["e3", "e4"], ring.Since(2).Select(e => e.Message));
        Assert.Empty(ring.Since(4));
        Assert.Equal(4, ring.LastId);
    }

    [Fact]
    public void The_ring_is_bounded_and_drops_the_oldest()
    {
        var ring = new EventRing(3);
        for (int i = 1; i <= 8; i++)
        {
            ring.Add(PoolEventKind.Join, $"e{i}");
        }

        Assert.Equal([6L, 7L, 8L], ring.Since(0).Select(e => e.Id));
        Assert.Equal([6L, 7L, 8L], ring.Since(2).Select(e => e.Id)); // 3..5 fell off; what is left comes back
        Assert.Equal([8L], ring.Since(7).Select(e => e.Id));
    }

    [Fact]
    public void An_id_from_an_earlier_gateway_process_reads_the_whole_ring()
    {
        var ring = new EventRing(5);
        ring.Add(PoolEventKind.Info, "started");
        Assert.Equal(["started"], ring.Since(12345).Select(e => e.Message));
        Assert.Equal(["started"], ring.Since(-3).Select(e => e.Message));
    }

    [Fact]
    public async Task Changed_completes_at_the_next_add_and_Added_sees_every_event()
    {
        var ring = new EventRing(5);
        var seen = new List<PoolEventKind>();
        ring.Added += e => seen.Add(e.Kind);
        var changed = ring.Changed;
        Assert.False(changed.IsCompleted);
        ring.Add(PoolEventKind.Failover, "x");
        await changed.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.False(ring.Changed.IsCompleted);
        Assert.Equal([PoolEventKind.Failover], seen);
    }

    [Fact]
    public void Events_carry_the_clock_time()
    {
        var clock = new FixedClock(new DateTimeOffset(2026, 1, 2, 3, 4, 5, TimeSpan.Zero));
        var ring = new EventRing(2, clock);
        Assert.Equal(clock.Now, ring.Add(PoolEventKind.Info, "x").At);
    }

    [Fact]
    public async Task Concurrent_adds_get_distinct_ids_and_none_is_lost_within_capacity()
    {
        var ring = new EventRing(4000);
        await Task.WhenAll(Enumerable.Range(0, 8).Select(t => Task.Run(() =>
        {
            for (int i = 0; i < 500; i++)
            {
                ring.Add(PoolEventKind.Info, $"{t}/{i}");
            }
        })));
        var all = ring.Since(0);
        Assert.Equal(4000, all.Count);
        Assert.Equal(Enumerable.Range(1, 4000).Select(i => (long)i), all.Select(e => e.Id));
        Assert.Equal(4000, all.Select(e => e.Message).Distinct().Count());
    }

    [Fact]
    public void A_ring_needs_room()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new EventRing(0));
    }

    private sealed class FixedClock(DateTimeOffset now) : TimeProvider
    {
        public DateTimeOffset Now => now;

        public override DateTimeOffset GetUtcNow() => now;
    }
}
