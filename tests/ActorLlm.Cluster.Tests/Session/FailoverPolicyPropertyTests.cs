using ActorLlm.Protocol;
using ActorLlm.Protocol.Messages;
using FsCheck;
using FsCheck.Fluent;
using Xunit;
using static ActorLlm.Cluster.Session.FailoverPolicy;

namespace ActorLlm.Cluster.Tests.Session;

/// <summary>One decision of a simulated job: the history and situation it was made in, the failure, the decision.</summary>
public sealed record Turn(History Before, Situation Now, Failure Failure, Decision Decision)
{
    public override string ToString() =>
        $"step {Now.Step} route [{string.Join(", ", Now.Route ?? [])}] after {Before.Failovers} failovers: {Failure} -> {Decision}";
}

/// <summary>A simulated job's decisions until it gives up or the failures run out.</summary>
public sealed record Run(int MaxFailovers, IReadOnlyList<Turn> Turns)
{
    public override string ToString() => $"max {MaxFailovers}\n  " + string.Join("\n  ", Turns);
}

/// <summary>
/// FailoverPolicy over random jobs: a session's life simulated as the actor drives it (a new step number per route
/// and per wait for one; routes of 1-3 devices out of 6 on 3 machines, excluded ones included, as the RouteCache
/// falls back to them), fed random failures of the current or an earlier step, from devices and nodes on or off the
/// route, and the route wait running out while a route is awaited.
/// </summary>
public class FailoverPolicyPropertyTests
{
    private static readonly Config s_config = Config.QuickThrowOnFailure.WithMaxTest(500);

    private static readonly DeviceKey[] s_devices =
        [.. from m in new[] { "m0", "m1", "m2" } from d in new[] { "cpu", "cuda:0" } select FailoverPolicyTests.Device(m, d)];

    /// <summary>One failure, drawn relative to where the job stands; m3 is on no route.</summary>
    private sealed record Draw(int Kind, int Age, bool Retryable, int Device, int Machine, bool RouteArrives);

    private static Gen<Draw> DrawGen() =>
        from kind in Gen.Choose(0, 19)
        from age in Gen.Elements(0, 0, 0, 1, 2)
        from retryable in Gen.Elements(true, true, true, false)
        from device in Gen.Choose(0, s_devices.Length - 1)
        from machine in Gen.Choose(0, 3)
        from arrives in Gen.Elements(true, true, false)
        select new Draw(kind, age, retryable, device, machine, arrives);

    private static Arbitrary<Run> Runs() =>
        (from max in Gen.Choose(0, 4)
         from n in Gen.Choose(0, 16)
         from draws in DrawGen().ListOf(n)
         from routes in Gen.Choose(0, s_devices.Length - 1).ListOf(3).ListOf(n + 1)
         select Simulate(max, [.. draws], [.. routes.Select(r => r.Take(1 + (r[0] % 3)).Select(i => s_devices[i]).ToArray())])).ToArbitrary();

    private static Run Simulate(int max, Draw[] draws, DeviceKey[][] routes)
    {
        var settings = FailoverPolicyTests.Settings(max);
        var turns = new List<Turn>();
        var history = History.None;
        long step = 1;
        int nextRoute = 1;
        DeviceKey[]? route = routes[0];
        for (int i = 0; i < draws.Length; i++)
        {
            var d = draws[i];
            Failure failure = d.Kind switch
            {
                < 8 => new StageFailed(step - d.Age, s_devices[d.Device], $"failure {i}", d.Retryable),
                < 13 => new StepTimedOut(step - d.Age),
                < 18 => new NodeSuspected(FailoverPolicyTests.Node($"m{d.Machine}"), $"unreachable {i}"),
                _ when route is null => RouteWaitOver.Instance,
                _ => new StepTimedOut(step),
            };
            var now = new Situation(step, route);
            var decision = Decide(failure, now, history, settings);
            turns.Add(new Turn(history, now, failure, decision));
            if (decision is GiveUp)
            {
                break;
            }

            if (decision is Failover f)
            {
                history = f.History;
                route = null;
                step++;
            }

            if (route is null && d.RouteArrives)
            {
                route = routes[nextRoute++];
                step++;
            }
        }

        return new Run(max, turns);
    }

    /// <summary>The reason a failover for this failure records (null where the failure is not one that fails over).</summary>
    private static string? FailoverReason(Failure failure) => failure switch
    {
        StageFailed { Retryable: true } f => f.Reason,
        StepTimedOut => "no answer within 00:00:20",
        NodeSuspected s => $"{s.Node} {s.Why}",
        _ => null,
    };

    /// <summary>The devices a failover for this failure must route around.</summary>
    private static IEnumerable<DeviceKey> Lost(Turn t) => t.Failure switch
    {
        StageFailed f => [f.Device],
        StepTimedOut => t.Now.Route!,
        NodeSuspected s => t.Now.Route!.Where(d => d.Node == s.Node),
        _ => [],
    };

    [Fact]
    public void A_job_never_fails_over_more_than_the_maximum_and_counts_every_failover() =>
        Check.One(s_config, Prop.ForAll(Runs(), run =>
        {
            var failovers = run.Turns.Select(t => t.Decision).OfType<Failover>().ToList();
            Assert.True(failovers.Count <= run.MaxFailovers);
            Assert.Equal(Enumerable.Range(1, failovers.Count), failovers.Select(f => f.History.Failovers));
        }));

    [Fact]
    public void Exclusions_only_grow_and_each_failover_adds_the_lost_devices_and_its_reason() =>
        Check.One(s_config, Prop.ForAll(Runs(), run =>
        {
            foreach (var t in run.Turns.Where(t => t.Decision is Failover))
            {
                var f = (Failover)t.Decision;
                Assert.True(f.History.Excluded.IsSupersetOf(t.Before.Excluded));
                Assert.True(f.History.Excluded.IsSupersetOf(Lost(t)));
                Assert.Equal(FailoverReason(t.Failure), f.Reason);
                Assert.Equal([.. t.Before.Reasons, f.Reason], f.History.Reasons);
            }
        }));

    [Fact]
    public void A_suspected_node_the_route_does_not_use_never_triggers_a_failover() =>
        Check.One(s_config, Prop.ForAll(Runs(), run =>
        {
            foreach (var t in run.Turns.Where(t => t.Failure is NodeSuspected))
            {
                var node = ((NodeSuspected)t.Failure).Node;
                bool onRoute = t.Now.Route?.Any(d => d.Node == node) ?? false;
                Assert.Equal(!onRoute, t.Decision is Ignore);
            }
        }));

    [Fact]
    public void A_failure_or_timeout_of_another_step_is_ignored_and_a_non_retryable_one_of_this_step_ends_the_job() =>
        Check.One(s_config, Prop.ForAll(Runs(), run =>
        {
            foreach (var t in run.Turns)
            {
                switch (t.Failure)
                {
                    case StageFailed f when f.Step != t.Now.Step:
                    case StepTimedOut s when s.Step != t.Now.Step:
                        Assert.Equal(Ignore.Instance, t.Decision);
                        break;
                    case StageFailed { Retryable: false } f:
                        Assert.Equal(new GiveUp(f.Reason, JobFailure.InvalidRequest), t.Decision);
                        break;
                }
            }
        }));

    [Fact]
    public void A_job_gives_up_only_beyond_the_maximum_or_on_a_bad_request_or_without_a_route_naming_every_failure() =>
        Check.One(s_config, Prop.ForAll(Runs(), run =>
        {
            foreach (var t in run.Turns.Where(t => t.Decision is GiveUp))
            {
                string reason = ((GiveUp)t.Decision).Reason;
                switch (t.Failure)
                {
                    case StageFailed { Retryable: false } f:
                        Assert.Equal(f.Reason, reason);
                        break;
                    case RouteWaitOver:
                        Assert.Null(t.Now.Route);
                        Assert.Equal($"no complete route to the model within 00:01:00 ({string.Join("; ", t.Before.Reasons.DefaultIfEmpty("placement not ready"))})", reason);
                        break;
                    default:
                        Assert.Equal(run.MaxFailovers, t.Before.Failovers);
                        Assert.Equal($"gave up after {run.MaxFailovers} failovers: {string.Join("; ", t.Before.Reasons.Append(FailoverReason(t.Failure)))}", reason);
                        break;
                }
            }
        }));
}
