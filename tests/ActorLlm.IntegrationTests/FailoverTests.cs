using Xunit;
using Xunit.Abstractions;

namespace ActorLlm.IntegrationTests;

/// <summary>With redundancy 2, a worker SIGKILLed mid-job is replaced by a replica and the greedy text is unchanged.</summary>
public sealed class FailoverTests(ITestOutputHelper output) : PoolTestBase(output)
{
    [Fact]
    public Task A_worker_killed_during_prefill_does_not_change_the_text() => WithLogs(async () =>
    {
        // Small prefill chunks make the prompt's prefill a sequence of messages. The workers are frozen (SIGSTOP)
        // before the job starts, so no chunk can get through the route before its last stage is killed.
        var (pool, client) = await StartPoolAsync(workers: 4, redundancy: 2, gatewayArgs: ["--set", "actorllm.session.prefill-chunk=4"]);
        string prompt = string.Concat(Enumerable.Repeat("Once upon a time, there was a little girl named Lily. ", 12));
        var options = Greedy(32);
        var recorded = new Recorded();
        var workers = pool.Nodes.Where(n => n.Name.StartsWith("worker", StringComparison.Ordinal)).ToList();
        workers.ForEach(w => w.Pause());
        var job = client.GenerateAsync(prompt, options, recorded.OnText, Timeout, recorded.OnRouted);
        var route = await recorded.FirstRoute.Task;
        var victim = pool.Nodes.Single(n => n.Up.Result == route.Nodes[^1]);
        victim.Kill();
        workers.Where(w => w != victim).ToList().ForEach(w => w.Resume());
        Assert.Equal(0, recorded.TextPieces);

        var result = await job;
        Output.WriteLine($"killed {victim.Name} during prefill; failovers {result.Failovers}; routes: {string.Join(" | ", recorded.Routes.Select(r => string.Join(" -> ", r.Stages)))}");
        Assert.Equal(SingleProcess(prompt, options), result.Text);
        Assert.True(result.Failovers >= 1);
    });

    [Fact]
    public Task A_worker_killed_mid_decode_does_not_change_the_text() => WithLogs(async () =>
    {
        var (pool, client) = await StartPoolAsync(workers: 4, redundancy: 2);
        var options = Greedy(200, stopAtEos: false);
        var recorded = new Recorded();
        var textStarted = new TaskCompletionSource();
        var job = client.GenerateAsync("", options, t =>
        {
            recorded.OnText(t);
            if (recorded.TextPieces >= 20)
            {
                textStarted.TrySetResult();
            }
        }, Timeout, recorded.OnRouted);
        var route = await recorded.FirstRoute.Task;
        await textStarted.Task;
        var victim = pool.Nodes.Single(n => n.Up.Result == route.Nodes[0]);
        var killedAt = DateTime.UtcNow;
        victim.Kill();

        var result = await job;
        Output.WriteLine($"killed {victim.Name} after {recorded.TextPieces} pieces; failovers {result.Failovers}; longest gap between text pieces {recorded.LongestGap().TotalMilliseconds:F0} ms");
        Assert.Equal(SingleProcess("", options), result.Text);
        Assert.True(result.Failovers >= 1);
        Assert.True(recorded.Routes.Count >= 2);
        Assert.DoesNotContain(recorded.Routes.Last().Nodes, n => n == route.Nodes[0]);
    });
}
