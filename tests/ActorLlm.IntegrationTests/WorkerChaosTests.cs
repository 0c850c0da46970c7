using ActorLlm.Cli.Pool;
using ActorLlm.Inference.Checkpoints;
using Xunit;
using Xunit.Abstractions;

namespace ActorLlm.IntegrationTests;

/// <summary>
/// What home labs do to a worker, on real node processes: its cached weights rot on disk, the gateway running its
/// sessions dies, it is pointed at a pool of another model. Issue 12.
/// </summary>
public sealed class WorkerChaosTests(ITestOutputHelper output) : PoolTestBase(output)
{

    [Fact]
    public Task A_unit_that_rotted_in_a_workers_cache_is_pulled_again_and_jobs_keep_the_single_process_text() => WithLogs(async () =>
    {
        // A worker without the model: its units are files in its cache (pulled from the gateway, which serves the
        // bundled Hugging Face directory in place), and files on disk can rot.
        var (pool, client) = await StartPoolAsync(workers: 1, workersHaveModel: false);
        var options = Greedy(40, stopAtEos: false);
        string expected = SingleProcess("Once upon a time", options);
        Assert.Equal(expected, (await client.GenerateAsync("Once upon a time", options, null, Timeout)).Text);

        // The worker stops; a float in the middle of layer.1's weights becomes 1e30 on disk (size and header intact).
        var worker = pool.Nodes.Single(n => n.Name == "worker-1");
        await worker.StopAsync(TimeSpan.FromSeconds(10));
        string unitPath;
        string sha;
        using (var cached = UnitStore.Open(CachedStore("worker-1")))
        {
            (unitPath, sha) = (cached.UnitPath(2), cached.Unit(2).Sha256);
            TestModels.CorruptTensorData(unitPath);
            Assert.False(cached.VerifyUnit(2));
        }

        // Restarted with the same cache, it finds the damage before serving, says so once, and pulls the unit again.
        long before = (await client.StatusAsync(Timeout)).RouteVersion;
        var restarted = await pool.AddWorkerAsync("worker-1", Timeout, withModel: false);
        await WaitPlacedAsync(client, 1, afterRouteVersion: before);
        Assert.Equal(expected, (await client.GenerateAsync("Once upon a time", options, null, Timeout)).Text);

        var corruptLines = LogLines(restarted, "is corrupt on disk").ToList();
        Output.WriteLine(string.Join(Environment.NewLine, corruptLines));
        Assert.Single(corruptLines);
        Assert.Contains("unit 2 of", corruptLines[0]);
        Assert.Contains(sha, corruptLines[0]);
        Assert.Equal(sha, FileDigest.Of(unitPath).Sha256);
    });

    [Fact]
    public Task A_worker_with_another_model_says_why_once_and_exits_non_zero() => WithLogs(async () =>
    {
        var (pool, client) = await StartPoolAsync(workers: 1);
        var stranger = NodeProcess.Start("stranger", ["--roles", "worker", "--host", "127.0.0.1", "--port", "0", "--seeds", pool.Seed, "--devices", "cpu",
            "--model", RepoPaths.HfLlamaTiny, "--cache-dir", Path.Combine(WorkDir, "stranger-cache"), "--tls", "off"], Path.Combine(WorkDir, "stranger.log"));
        try
        {
            Assert.Equal(1, await stranger.ExitCodeAsync(TimeSpan.FromSeconds(60)));
            var refused = LogLines(stranger, "the pool refused this worker: this pool serves model").ToList();
            Assert.Single(refused);
            Assert.Empty(LogLines(stranger, "registering again"));
        }
        finally
        {
            await stranger.StopAsync(TimeSpan.FromSeconds(5));
            stranger.Dispose();
        }

        // The pool is as it was: its own worker serves, the stranger was never given layers.
        var status = await client.StatusAsync(Timeout);
        Assert.Equal(["worker-1:cpu"], status.Devices.Select(d => d.Device.Label).ToArray());
    });

    /// <summary>The unit store a worker of the pool created in its cache directory from a peer's manifest (LocalPool: NAME-cache).</summary>
    private string CachedStore(string worker) =>
        Directory.GetDirectories(Path.Combine(WorkDir, "pool0", worker + "-cache")).Single(UnitStore.IsStore);

    /// <summary>The lines of the node's log (this run and earlier runs of the same name) that contain <paramref name="text"/>.</summary>
    private static IEnumerable<string> LogLines(NodeProcess node, string text)
    {
        using var reader = new StreamReader(new FileStream(node.LogPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite));
        var lines = new List<string>();
        while (reader.ReadLine() is { } line)
        {
            if (line.Contains(text, StringComparison.Ordinal))
            {
                lines.Add(line);
            }
        }

        return lines;
    }
}
