using System.Diagnostics;
using ActorLlm.Cli.Http;
using ActorLlm.Protocol.Messages;
using Xunit;
using Xunit.Abstractions;

namespace ActorLlm.IntegrationTests;

/// <summary>
/// Pools with two gateways, driven only through the gateways' HTTP APIs (no cluster client joins): a gateway that
/// joins a placed pool serves at once, and SIGKILL of the oldest gateway (placement singleton, shard coordinator)
/// downs nobody else; the singleton moves and the survivor serves new jobs within seconds.
/// </summary>
public sealed class GatewayChaosTests(ITestOutputHelper output) : PoolTestBase(output)
{
    private const string Prompt = "Once upon a time";

    [Fact]
    public Task A_gateway_that_joins_a_placed_pool_serves_jobs_at_once() => WithLogs(async () =>
    {
        var pool = await StartHttpPoolAsync(workers: 2);
        var options = Greedy(16);
        string expected = SingleProcess(Prompt, options);

        var gateway2 = await pool.AddGatewayAsync("gateway-2", Timeout);
        using var api2 = new GatewayClient(await gateway2.Http, pool.ApiKey, Timeout);
        var clock = Stopwatch.StartNew();

        // Jobs are sharded over both gateways' regions, so several of them land on each gateway's sessions. No re-plan
        // happens (no device joins or leaves), so the new gateway has only what it asked for on joining.
        for (int i = 0; i < 6; i++)
        {
            using var cancel = new CancellationTokenSource(TimeSpan.FromSeconds(20));
            var result = await RetryUnavailable(() => api2.CompleteAsync(Prompt, options, null, cancel.Token), cancel.Token);
            Assert.Equal(expected, result.Text);
        }

        Output.WriteLine($"6 jobs through the joining gateway in {clock.Elapsed.TotalSeconds:F1} s after it was up");
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(30), $"6 jobs took {clock.Elapsed.TotalSeconds:F1} s");
    });

    [Fact]
    public Task Killing_the_oldest_gateway_downs_nobody_else_and_the_survivor_serves() => WithLogs(async () =>
    {
        var pool = await StartHttpPoolAsync(workers: 2);
        var options = Greedy(16);
        string expected = SingleProcess(Prompt, options);
        var gateway2 = await pool.AddGatewayAsync("gateway-2", Timeout);
        using var api2 = new GatewayClient(await gateway2.Http, pool.ApiKey, Timeout);
        await api2.WaitForAsync(s => s.Members.Length == 4 && s.Members.All(m => m.Status == "Up" && m.Reachable), Timeout, TimeSpan.FromMilliseconds(200));
        using (var first = new CancellationTokenSource(TimeSpan.FromSeconds(30)))
        {
            Assert.Equal(expected, (await RetryUnavailable(() => api2.CompleteAsync(Prompt, options, null, first.Token), first.Token)).Text);
        }

        var oldest = pool["gateway"];
        var survivors = pool.Nodes.Where(n => n != oldest).ToList();
        oldest.Kill();
        var clock = Stopwatch.StartNew();

        // New jobs through the surviving gateway: each attempt given 10 s, until one completes.
        TimeSpan firstServed = TimeSpan.Zero;
        int attempts = 0;
        while (firstServed == TimeSpan.Zero)
        {
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(90), $"no job served within 90 s of the kill ({attempts} attempts)");
            attempts++;
            using var cancel = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            try
            {
                var result = await api2.CompleteAsync(Prompt, options, null, cancel.Token);
                Assert.Equal(expected, result.Text);
                firstServed = clock.Elapsed;
            }
            catch (Exception e) when (e is GatewayException or OperationCanceledException or HttpRequestException)
            {
                Output.WriteLine($"{clock.Elapsed.TotalSeconds:F1} s: attempt {attempts}: {e.GetType().Name}: {e.Message}");
                if (!cancel.IsCancellationRequested)
                {
                    await Task.Delay(TimeSpan.FromMilliseconds(250));
                }
            }
        }

        // The resolver's decision: the dead gateway is removed, and nobody else is downed by it.
        var settled = await api2.WaitForAsync(
            s => s.Members.Length == 3 && s.Members.All(m => m.Reachable && m.Status == "Up"),
            Timeout,
            TimeSpan.FromMilliseconds(250));
        var removedAt = clock.Elapsed;
        Assert.All(survivors, n => Assert.False(n.HasExited, $"{n.Name} exited"));
        Assert.DoesNotContain(settled.Members, m => m.Address == oldest.Up.Result);
        Assert.Contains("placement: coordinating model", File.ReadAllText(gateway2.LogPath), StringComparison.Ordinal);

        // Served again, repeatedly, once the membership settled.
        for (int i = 0; i < 4; i++)
        {
            using var cancel = new CancellationTokenSource(TimeSpan.FromSeconds(20));
            Assert.Equal(expected, (await api2.CompleteAsync(Prompt, options, null, cancel.Token)).Text);
        }

        Assert.All(survivors, n => Assert.False(n.HasExited, $"{n.Name} exited"));
        Output.WriteLine($"first job served {firstServed.TotalSeconds:F1} s after the kill ({attempts} attempts); dead gateway removed by {removedAt.TotalSeconds:F1} s; survivors: {string.Join(", ", survivors.Select(n => n.Name))}");
        Assert.True(firstServed < TimeSpan.FromSeconds(30), $"first job after the kill took {firstServed.TotalSeconds:F1} s");
    });

    /// <summary>Retries while the gateway answers 503 (no route yet), until <paramref name="cancel"/>.</summary>
    private static async Task<JobMessages.GenerationCompleted> RetryUnavailable(Func<Task<JobMessages.GenerationCompleted>> job, CancellationToken cancel)
    {
        while (true)
        {
            try
            {
                return await job();
            }
            catch (GatewayException e) when (e.Status == 503 && !cancel.IsCancellationRequested)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(100), cancel);
            }
        }
    }
}
