using ActorLlm.Cluster.Hosting;
using ActorLlm.Protocol;
using ActorLlm.Protocol.Messages;
using Xunit;
using static ActorLlm.Cluster.Session.FailoverPolicy;

namespace ActorLlm.Cluster.Tests.Session;

/// <summary>FailoverPolicy by example: each kind of failure, the devices it excludes, and the messages a client reads.</summary>
public sealed class FailoverPolicyTests
{
    private static readonly DeviceKey[] s_route = [Device("m1", "cpu"), Device("m2", "cuda:0"), Device("m2", "cuda:1")];

    public static NodeAddress Node(string machine) => new($"akka.tcp://pool@{machine}:2552");

    public static DeviceKey Device(string machine, string device) => new(Node(machine), device);

    public static SessionSettings Settings(int maxFailovers) =>
        new(TimeSpan.FromSeconds(20), maxFailovers, 256, TimeSpan.FromSeconds(60), Ring: true);

    private static Situation OnRoute(long step) => new(step, s_route);

    private static Failover ExpectFailover(Decision d) => Assert.IsType<Failover>(d);

    [Fact]
    public void A_retryable_stage_failure_fails_over_around_that_device()
    {
        var d = ExpectFailover(Decide(new StageFailed(5, s_route[0], "m1:cpu: CUDA error", true), OnRoute(5), History.None, Settings(3)));
        Assert.Equal("m1:cpu: CUDA error", d.Reason);
        Assert.Equal(1, d.History.Failovers);
        Assert.Equal(["m1:cpu: CUDA error"], d.History.Reasons);
        Assert.Equal([s_route[0]], d.History.Excluded);
    }

    [Fact]
    public void A_stage_failure_that_is_not_retryable_gives_up_with_the_stage_reason_even_with_failovers_left()
    {
        var d = Decide(new StageFailed(5, s_route[1], "m2:cuda:0: hidden states contain NaN", false), OnRoute(5), History.None, Settings(3));
        Assert.Equal(new GiveUp("m2:cuda:0: hidden states contain NaN", JobFailure.InvalidRequest), d);
    }

    [Fact]
    public void A_step_timeout_fails_over_around_every_device_of_the_silent_route()
    {
        var d = ExpectFailover(Decide(new StepTimedOut(5), OnRoute(5), History.None, Settings(3)));
        Assert.Equal("no answer within 00:00:20", d.Reason);
        Assert.Equal(s_route.Order(), d.History.Excluded.Order());
    }

    [Fact]
    public void A_suspected_node_on_the_route_fails_over_around_the_route_devices_on_that_node()
    {
        var d = ExpectFailover(Decide(new NodeSuspected(Node("m2"), "unreachable"), OnRoute(5), History.None, Settings(3)));
        Assert.Equal("akka.tcp://pool@m2:2552 unreachable", d.Reason);
        Assert.Equal([s_route[1], s_route[2]], d.History.Excluded.Order());
    }

    [Fact]
    public void A_suspected_node_off_the_route_and_failures_while_waiting_for_a_route_are_ignored()
    {
        var waiting = new Situation(6, null);
        Assert.Equal(Ignore.Instance, Decide(new NodeSuspected(Node("m3"), "unreachable"), OnRoute(5), History.None, Settings(3)));
        Assert.Equal(Ignore.Instance, Decide(new NodeSuspected(Node("m1"), "connection lost"), waiting, History.None, Settings(3)));
        Assert.Equal(Ignore.Instance, Decide(new StepTimedOut(6), waiting, History.None, Settings(3)));
    }

    [Fact]
    public void Failures_and_timeouts_of_an_earlier_step_are_ignored()
    {
        Assert.Equal(Ignore.Instance, Decide(new StageFailed(4, s_route[0], "late", true), OnRoute(5), History.None, Settings(3)));
        Assert.Equal(Ignore.Instance, Decide(new StageFailed(4, s_route[0], "late and bad", false), OnRoute(5), History.None, Settings(3)));
        Assert.Equal(Ignore.Instance, Decide(new StepTimedOut(4), OnRoute(5), History.None, Settings(3)));
    }

    [Fact]
    public void Each_failover_keeps_the_earlier_exclusions_and_reasons()
    {
        var first = ExpectFailover(Decide(new StageFailed(1, s_route[0], "a", true), OnRoute(1), History.None, Settings(3)));
        var second = ExpectFailover(Decide(new StageFailed(3, s_route[1], "b", true), OnRoute(3), first.History, Settings(3)));
        Assert.Equal(2, second.History.Failovers);
        Assert.Equal(["a", "b"], second.History.Reasons);
        Assert.Equal([s_route[0], s_route[1]], second.History.Excluded.Order());
    }

    [Fact]
    public void The_failover_beyond_the_maximum_gives_up_naming_every_failure_in_order()
    {
        var history = History.None;
        foreach (var (step, reason) in new[] { (1L, "m2:cpu: out of memory"), (3L, "m3:cpu: driver error") })
        {
            history = ExpectFailover(Decide(new StageFailed(step, s_route[0], reason, true), OnRoute(step), history, Settings(2))).History;
        }

        var d = Decide(new StepTimedOut(5), OnRoute(5), history, Settings(2));
        Assert.Equal(new GiveUp("gave up after 2 failovers: m2:cpu: out of memory; m3:cpu: driver error; no answer within 00:00:20"), d);
    }

    [Fact]
    public void With_no_failovers_allowed_the_first_failure_gives_up()
    {
        var d = Decide(new NodeSuspected(Node("m1"), "removed"), OnRoute(1), History.None, Settings(0));
        Assert.Equal(new GiveUp("gave up after 0 failovers: akka.tcp://pool@m1:2552 removed"), d);
    }

    [Fact]
    public void A_route_wait_that_runs_out_gives_up_naming_the_failures_so_far()
    {
        var waiting = new Situation(2, null);
        Assert.Equal(
            new GiveUp("no complete route to the model within 00:01:00 (placement not ready)", JobFailure.NoRoute),
            Decide(RouteWaitOver.Instance, waiting, History.None, Settings(3)));
        var history = ExpectFailover(Decide(new StageFailed(1, s_route[0], "m1:cpu: CUDA error", true), OnRoute(1), History.None, Settings(3))).History;
        Assert.Equal(
            new GiveUp("no complete route to the model within 00:01:00 (m1:cpu: CUDA error)", JobFailure.NoRoute),
            Decide(RouteWaitOver.Instance, waiting, history, Settings(3)));
    }
}
