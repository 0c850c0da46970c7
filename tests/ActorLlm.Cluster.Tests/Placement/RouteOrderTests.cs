using ActorLlm.Cluster.Placement;
using ActorLlm.Protocol;
using ActorLlm.Protocol.Messages;
using FsCheck;
using FsCheck.Fluent;
using Xunit;

namespace ActorLlm.Cluster.Tests.Placement;

/// <summary>
/// Route tables are ordered by (epoch, version), and a coordinator's epoch (its start time, above the last in its
/// process) grows when the singleton moves or restarts.
/// </summary>
public class RouteOrderTests
{
    private static readonly Config s_config = Config.QuickThrowOnFailure.WithMaxTest(1000);

    private static PlacementMessages.RouteTable Table(long epoch, long version) =>
        new(version, 7, [], PlacementStatus.Complete, false, epoch);

    [Fact]
    public void A_lower_version_of_a_newer_epoch_comes_after_and_a_higher_version_of_an_older_epoch_does_not()
    {
        var before = Table(1_700_000_000_000L, 8);
        var afterMove = Table(1_700_000_012_000L, 1);
        Assert.True(afterMove.IsNewerThan(before));
        Assert.False(before.IsNewerThan(afterMove));
        Assert.True(Table(before.Epoch, 9).IsNewerThan(before));
        Assert.False(before.IsNewerThan(before));
        Assert.True(before.IsNewerThan(PlacementMessages.RouteTable.Empty));
    }

    [Fact]
    public void The_order_is_strict_total_and_epoch_first()
    {
        var tables = (from epoch in Gen.Choose(0, 5)
                      from version in Gen.Choose(0, 5)
                      select Table(epoch, version)).ToArbitrary();
        Check.One(s_config, Prop.ForAll(tables, tables, (a, b) =>
        {
            bool same = (a.Epoch, a.Version) == (b.Epoch, b.Version);
            Assert.False(a.IsNewerThan(b) && b.IsNewerThan(a));
            Assert.Equal(!same, a.IsNewerThan(b) || b.IsNewerThan(a));
            if (a.Epoch != b.Epoch)
            {
                Assert.Equal(a.Epoch > b.Epoch, a.IsNewerThan(b));
            }
        }));
    }

    [Fact]
    public void A_coordinator_started_later_has_the_higher_epoch_and_one_restarted_in_the_same_millisecond_too()
    {
        var times = Gen.Choose(0, 1_000_000).ToArbitrary();
        Check.One(s_config, Prop.ForAll(times, times, (t, last) =>
        {
            var now = DateTimeOffset.FromUnixTimeMilliseconds(1_700_000_000_000L + t);
            long lastEpoch = 1_700_000_000_000L + last;
            long epoch = PlacementEpoch.Of(now, lastEpoch);
            Assert.True(epoch > lastEpoch);
            Assert.True(epoch >= now.ToUnixTimeMilliseconds());
        }));

        long first = PlacementEpoch.Next();
        Assert.True(PlacementEpoch.Next() > first);
    }
}
