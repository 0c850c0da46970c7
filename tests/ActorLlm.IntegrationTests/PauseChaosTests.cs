using System.Diagnostics;
using ActorLlm.Cli.Pool;
using Xunit;
using Xunit.Abstractions;

namespace ActorLlm.IntegrationTests;

/// <summary>
/// A paused machine (a laptop lid closed, a VM suspended): a route worker SIGSTOPped mid-job for 10 s and for 60 s.
/// The job fails over within the step timeout and keeps its text; once resumed, the worker is never left
/// half-alive: it either serves again or, downed while it was frozen, exits (code 1) for its supervisor to restart.
/// Issue 12.
/// </summary>
public sealed class PauseChaosTests(ITestOutputHelper output) : PoolTestBase(output)
{
    [Theory]
    [InlineData(10)]
    [InlineData(60)]
    public Task A_worker_paused_mid_job_is_failed_over_and_afterwards_serves_again_or_exits(int seconds) => WithLogs(async () =>
    {
        var (pool, client) = await StartPoolAsync(workers: 4, redundancy: 2);
        var options = Greedy(400, stopAtEos: false);
        string expected = SingleProcess("", options);
        var recorded = new Recorded();
        var started = new TaskCompletionSource();
        var job = client.GenerateAsync("", options, t =>
        {
            recorded.OnText(t);
            if (recorded.TextPieces >= 10)
            {
                started.TrySetResult();
            }
        }, Timeout, recorded.OnRouted);
        var route = await recorded.FirstRoute.Task;
        await started.Task;
        var victim = pool.Nodes.Single(n => n.Up.Result == route.Nodes[^1]);
        var paused = Stopwatch.StartNew();
        victim.Pause();
        try
        {
            var result = await job;
            var tookOver = paused.Elapsed;
            Output.WriteLine($"paused {victim.Name} for {seconds} s after {recorded.TextPieces} pieces; job done {tookOver.TotalSeconds:F1} s later, failovers {result.Failovers}, longest gap {recorded.LongestGap().TotalMilliseconds:F0} ms");
            Assert.Equal(expected, result.Text);
            Assert.True(result.Failovers >= 1);
            Assert.DoesNotContain(recorded.Routes.Last().Nodes, n => n == route.Nodes[^1]);

            // Failed over after the step timeout (5 s) and a replay, not after the pause.
            Assert.True(recorded.LongestGap() < TimeSpan.FromSeconds(15), $"longest gap {recorded.LongestGap()}");

            var rest = TimeSpan.FromSeconds(seconds) - paused.Elapsed;
            if (rest > TimeSpan.Zero)
            {
                // The pool meanwhile serves new jobs on the others.
                Assert.Equal(SingleProcess("Once upon a time", Greedy(24)), (await client.GenerateAsync("Once upon a time", Greedy(24), null, Timeout)).Text);
                // The fault itself: the machine stays frozen for the rest of its pause.
                if (TimeSpan.FromSeconds(seconds) - paused.Elapsed is { Ticks: > 0 } left)
                {
                    await Task.Delay(left);
                }
            }
        }
        finally
        {
            victim.Resume();
        }

        // Resumed: within a minute it has either exited (downed while frozen) or is a reachable member serving again.
        string outcome = await Outcome(victim, client);
        Output.WriteLine($"{victim.Name} after the pause: {outcome}");
        Assert.Equal(SingleProcess("Once upon a time", Greedy(24)), (await client.GenerateAsync("Once upon a time", Greedy(24), null, Timeout)).Text);
    });

    [Fact]
    public Task The_only_gateway_paused_for_15_s_comes_back_to_the_same_pool() => WithLogs(async () =>
    {
        // Before actorllm.downing.lonely-after, the workers, cut off from every gateway, downed themselves ~11 s in.
        var (pool, client) = await StartPoolAsync(workers: 2);
        var options = Greedy(24);
        string expected = SingleProcess("Once upon a time", options);
        Assert.Equal(expected, (await client.GenerateAsync("Once upon a time", options, null, Timeout)).Text);
        var gateway = pool.Nodes.Single(n => n.Name == "gateway");
        gateway.Pause();
        try
        {
            // The fault: the gateway's machine stays frozen for 15 s.
            await Task.Delay(TimeSpan.FromSeconds(15));
        }
        finally
        {
            gateway.Resume();
        }

        // Everyone reachable again and nobody gone; the pool serves with the same text.
        await client.WaitForAsync(s => s.Members.Length >= 3 && s.Members.All(m => m.Reachable && m.Status == "Up") && s.ServesPlan(), Timeout);
        Assert.Equal(expected, (await client.GenerateAsync("Once upon a time", options, null, Timeout)).Text);
        Assert.All(pool.Nodes, n => Assert.False(n.HasExited, $"{n.Name} exited:\n{n.Tail(20)}"));
    });

    private static async Task<string> Outcome(NodeProcess victim, Cluster.Client.PoolClient client)
    {
        var until = Stopwatch.StartNew();
        string address = victim.Up.Result.Value;
        while (until.Elapsed < TimeSpan.FromSeconds(60))
        {
            if (victim.HasExited)
            {
                int code = await victim.ExitCodeAsync(TimeSpan.FromSeconds(5));
                Assert.Equal(1, code);
                return $"exited with code {code}";
            }

            var status = await client.StatusAsync(Timeout);
            var member = status.Members.FirstOrDefault(m => m.Address.Value == address);
            var devices = status.Devices.Where(d => d.Device.Node.Value == address).ToArray();
            if (member is { Reachable: true, Status: "Up" } && devices.Length > 0 && devices.All(d => d.Serving is not null && d.Serving == d.Assigned))
            {
                return "serving again";
            }

            await Task.Delay(500);
        }

        throw new Xunit.Sdk.XunitException($"{victim.Name} is neither gone nor serving a minute after it was resumed (half-alive); its log:\n{victim.Tail(30)}");
    }
}
