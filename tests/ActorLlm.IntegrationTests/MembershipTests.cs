using Xunit;
using Xunit.Abstractions;

namespace ActorLlm.IntegrationTests;

/// <summary>Workers joining a running pool, and workers that bring no model.</summary>
public sealed class MembershipTests(ITestOutputHelper output) : PoolTestBase(output)
{
    [Fact]
    public Task A_fourth_worker_joins_mid_run_placement_changes_and_the_job_in_flight_finishes_unchanged() => WithLogs(async () =>
    {
        var (pool, client) = await StartPoolAsync(workers: 3);
        var before = await client.StatusAsync(Timeout);

        // Long jobs (no EOS stop) are running while the fourth worker joins and the plan changes under them. One job
        // alone (a few hundred tokens/s, at most 511 tokens from BOS) can end before a worker has joined and loaded, so
        // twelve share the pool: each takes several times as long, and the one watched is in flight throughout.
        var options = Greedy(500, stopAtEos: false);
        var recorded = new Recorded();
        var job = client.GenerateAsync("", options, recorded.OnText, Timeout, recorded.OnRouted);
        var others = Enumerable.Range(0, 11).Select(_ => client.GenerateAsync("", options, null, Timeout)).ToArray();
        await recorded.FirstRoute.Task;

        var joinClock = System.Diagnostics.Stopwatch.StartNew();
        await pool.AddWorkerAsync("worker-4", Timeout);
        var after = await WaitPlacedAsync(client, devices: 4, afterRouteVersion: before.RouteVersion);
        Output.WriteLine($"worker-4 started, placed and serving after {joinClock.Elapsed.TotalSeconds:F1} s");
        Assert.False(job.IsCompleted, "the job finished before the new placement was live; the test did not exercise a hand-over");
        Assert.Contains(after.Devices, d => d.Device.Label == "worker-4:cpu" && d.Serving is not null);
        Assert.NotEqual(
            before.Devices.Select(d => $"{d.Device.Label}={d.Serving}").Order(),
            after.Devices.Where(d => d.Device.Label != "worker-4:cpu").Select(d => $"{d.Device.Label}={d.Serving}").Order());

        string expected = SingleProcess("", options);
        foreach (var result in await Task.WhenAll([job, .. others]))
        {
            Assert.Equal(expected, result.Text);
            Assert.Equal(0, result.Failovers);
        }

        // New jobs use the new placement and still read the same.
        var next = await client.GenerateAsync("", Greedy(40), null, Timeout);
        Assert.Equal(SingleProcess("", Greedy(40)), next.Text);
    });

    [Fact]
    public Task Workers_without_a_model_store_pull_their_units_from_peers_and_serve_them() => WithLogs(async () =>
    {
        var (pool, client) = await StartPoolAsync(workers: 2, workersHaveModel: false);
        var result = await client.GenerateAsync("", Greedy(48), null, Timeout);
        Assert.Equal(SingleProcess("", Greedy(48)), result.Text);
        foreach (var name in new[] { "worker-1", "worker-2" })
        {
            Assert.Contains("pulled unit", File.ReadAllText(pool[name].LogPath));
        }
    });
}
