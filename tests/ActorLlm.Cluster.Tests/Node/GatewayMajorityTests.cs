using ActorLlm.Cluster.Node;
using Akka.Actor;
using FsCheck;
using FsCheck.Fluent;
using Xunit;

namespace ActorLlm.Cluster.Tests.Node;

public sealed class GatewayMajorityTests
{
    private static readonly Config s_config = Config.QuickThrowOnFailure.WithMaxTest(500);

    private static DowningMember Gateway(int port) => new(new Address("akka.tcp", "actorllm", "127.0.0.1", port), Gateway: true);

    private static DowningMember Worker(int port) => new(new Address("akka.tcp", "actorllm", "127.0.0.1", port), Gateway: false);

    [Fact]
    public void Nobody_unreachable_means_nothing_to_do() =>
        Assert.Equal(DowningDecision.Nothing, GatewayMajority.Decide([Gateway(1), Worker(2)], []));

    [Fact]
    public void A_lone_gateway_stays_however_many_of_its_workers_are_dead()
    {
        // Churn: 12 dead workers, against one gateway, a client and 4 live workers (the decision takes every joined
        // member, whatever its status; Akka's keep-majority would count only the Up ones and keep the dead side).
        DowningMember[] living = [Gateway(10), Worker(11), Worker(12), Worker(13), Worker(14), Worker(15)];
        var dead = Enumerable.Range(1, 9).Concat(Enumerable.Range(20, 3)).Select(Worker).ToArray();
        Assert.Equal(DowningDecision.DownUnreachable, GatewayMajority.Decide(living, dead));
        Assert.Equal(DowningDecision.DownReachable, GatewayMajority.Decide(dead, living));
    }

    [Fact]
    public void Workers_cut_off_from_every_gateway_down_themselves()
    {
        Assert.Equal(DowningDecision.DownReachable, GatewayMajority.Decide([Worker(1), Worker(2), Worker(3)], [Gateway(9)]));
        Assert.Equal(DowningDecision.DownUnreachable, GatewayMajority.Decide([Gateway(9)], [Worker(1), Worker(2), Worker(3)]));
    }

    [Fact]
    public void A_side_without_a_gateway_waits_longer_before_it_goes_and_one_with_a_gateway_does_not()
    {
        var stable = TimeSpan.FromSeconds(7);
        var lonely = TimeSpan.FromSeconds(30);
        Assert.Equal(lonely, GatewayMajority.WaitBeforeGoing([Worker(1), Worker(2)], stable, lonely));
        Assert.Equal(stable, GatewayMajority.WaitBeforeGoing([Gateway(3), Worker(1)], stable, lonely));

        // Never shorter than stable-after, whatever lonely-after says.
        Assert.Equal(stable, GatewayMajority.WaitBeforeGoing([Worker(1)], stable, TimeSpan.FromSeconds(1)));
    }

    [Fact]
    public void When_one_of_two_gateways_dies_the_survivor_and_the_workers_stay_whichever_address_is_lower()
    {
        // The dead gateway has the lowest address (the oldest, the seed): keep-majority's tie-break would not matter
        // here, the members' count does.
        Assert.Equal(DowningDecision.DownUnreachable, GatewayMajority.Decide([Gateway(5), Worker(6), Worker(7)], [Gateway(1)]));
        Assert.Equal(DowningDecision.DownReachable, GatewayMajority.Decide([Gateway(1)], [Gateway(5), Worker(6), Worker(7)]));
    }

    [Fact]
    public void An_even_split_keeps_the_side_with_the_lowest_address()
    {
        Assert.Equal(DowningDecision.DownUnreachable, GatewayMajority.Decide([Gateway(1), Worker(4)], [Gateway(2), Worker(3)]));
        Assert.Equal(DowningDecision.DownReachable, GatewayMajority.Decide([Gateway(2), Worker(3)], [Gateway(1), Worker(4)]));
    }

    [Fact]
    public void Gateways_outweigh_workers()
    {
        Assert.Equal(DowningDecision.DownUnreachable, GatewayMajority.Decide([Gateway(9), Gateway(8)], [Gateway(1), Worker(2), Worker(3), Worker(4)]));
    }

    [Fact]
    public void Of_any_split_exactly_one_side_stays() =>
        Prop.ForAll(
            (from n in Gen.Choose(2, 12)
             from flags in Gen.ListOf(Gen.Elements(true, false), n)
             from sides in Gen.ListOf(Gen.Elements(true, false), n)
             select (flags: flags.ToArray(), sides: sides.ToArray())).ToArbitrary(),
            t =>
            {
                var members = t.flags.Select((g, i) => new DowningMember(new Address("akka.tcp", "actorllm", "10.0.0." + (i % 3), 4000 + i), g)).ToArray();
                var a = members.Where((_, i) => t.sides[i]).ToArray();
                var b = members.Where((_, i) => !t.sides[i]).ToArray();
                if (a.Length == 0 || b.Length == 0)
                {
                    return;
                }

                var fromA = GatewayMajority.Decide(a, b);
                var fromB = GatewayMajority.Decide(b, a);
                Assert.NotEqual(DowningDecision.Nothing, fromA);
                Assert.NotEqual(fromA, fromB);

                // The side with more gateways is never the one that goes.
                int ga = a.Count(m => m.Gateway), gb = b.Count(m => m.Gateway);
                if (ga != gb)
                {
                    Assert.Equal(ga > gb ? DowningDecision.DownUnreachable : DowningDecision.DownReachable, fromA);
                }
            }).Check(s_config);
}
