using System.Diagnostics;
using ActorLlm.Cli.Http;
using ActorLlm.Cli.Pool;
using Xunit;
using Xunit.Abstractions;

namespace ActorLlm.IntegrationTests;

/// <summary>Joining a pool without the traps a new user falls into: each mistake is a clear error at once.</summary>
public sealed class HomeLabJoinTests(ITestOutputHelper output) : PoolTestBase(output)
{
    private static async Task<(int Code, string Err, TimeSpan Took)> RunAsync(params string[] args)
    {
        var psi = NodeProcess.SelfCommand();
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        psi.RedirectStandardOutput = true;
        psi.RedirectStandardError = true;
        psi.Environment["ACTORLLM_API_KEYS"] = "sk-test";
        var clock = Stopwatch.StartNew();
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await p.WaitForExitAsync(timeout.Token);
        await stdout;
        return (p.ExitCode, await stderr, clock.Elapsed);
    }

    [Fact]
    public Task A_cluster_port_in_use_is_an_error_not_a_second_cluster() => WithLogs(async () =>
    {
        await using var pool = await LocalPool.StartAsync(new LocalPoolOptions(Model, Path.Combine(WorkDir, "port")), Timeout);
        var (code, err, _) = await RunAsync("node", "--roles", "gateway", "--host", "127.0.0.1", "--port", pool.GatewayPort.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "--seeds", pool.Seed, "--model", Model, "--http-port", "0", "--cache-dir", Path.Combine(WorkDir, "second"));
        Assert.Equal(1, code);
        Assert.Contains($"port {pool.GatewayPort} on 127.0.0.1 is already in use", err);
    });

    [Theory]
    [InlineData("error: node.host '0.0.0.0'", "node", "--roles", "worker", "--host", "0.0.0.0", "--seeds", "127.0.0.1:4050")]
    [InlineData("error: no seeds", "node", "--roles", "worker", "--host", "127.0.0.1")]
    [InlineData("error: --model does not apply with --cluster", "generate", "--cluster", "http://127.0.0.1:9", "--model", "models/stories260K")]
    [InlineData("error: --device does not apply with --cluster", "score", "--cluster", "http://127.0.0.1:9", "--device", "cpu", "--prompt", "a", "--choice", "b")]
    [InlineData("error: cannot reach the gateway", "generate", "--cluster", "http://127.0.0.1:9", "--timeout", "5")]
    [InlineData("error: device 'cuda:0': CUDA is not available here", "node", "--roles", "worker", "--host", "127.0.0.1", "--seeds", "127.0.0.1:9", "--devices", "cuda:0")]
    public async Task A_mistake_is_one_clear_line_and_exit_code_1_at_once(string error, params string[] args)
    {
        var (code, err, took) = await RunAsync(args);
        Assert.Equal(1, code);
        Assert.StartsWith(error, err.Trim(), StringComparison.Ordinal);
        Assert.True(took < TimeSpan.FromSeconds(20), $"took {took}");
    }

    [Fact]
    public Task A_worker_given_localhost_as_its_seed_joins_a_gateway_that_advertises_127_0_0_1() => WithLogs(async () =>
    {
        await using var pool = await LocalPool.StartAsync(new LocalPoolOptions(Model, Path.Combine(WorkDir, "localhost")), Timeout);
        var worker = NodeProcess.Start("localhost-worker", ["--roles", "worker", "--host", "localhost", "--port", "0", "--seeds", $"localhost:{pool.GatewayPort}",
            "--machine", "localhost-worker", "--devices", "cpu", "--model", Model, "--cache-dir", Path.Combine(WorkDir, "lw"), "--tls", "off"], Path.Combine(WorkDir, "lw.log"));
        try
        {
            Assert.StartsWith("akka.tcp://actorllm@127.0.0.1:", (await worker.Up.WaitAsync(Timeout)).Value, StringComparison.Ordinal);
            using var client = new GatewayClient(pool.ApiUrl, pool.ApiKey, Timeout);
            await client.WaitForAsync(s => s.Devices.Length == 1 && s.ServesPlan(), Timeout, TimeSpan.FromMilliseconds(200));
        }
        finally
        {
            await worker.StopAsync(TimeSpan.FromSeconds(10));
            worker.Dispose();
        }
    });

    [Fact]
    public Task Json_logs_are_one_object_per_line_and_status_prints_json() => WithLogs(async () =>
    {
        await using var pool = await LocalPool.StartAsync(new LocalPoolOptions(Model, Path.Combine(WorkDir, "json"), GatewayArgs: ["--log-format", "json"]), Timeout);
        await pool.AddWorkerAsync("worker-1", Timeout, true, "--log-format", "json", "--log-level", "WARNING");
        using var client = new GatewayClient(pool.ApiUrl, pool.ApiKey, Timeout);
        await client.WaitForAsync(s => s.Devices.Length == 1 && s.ServesPlan(), Timeout, TimeSpan.FromMilliseconds(200));

        var psi = NodeProcess.SelfCommand();
        foreach (var a in new[] { "status", "--cluster", pool.ApiUrl, "--json" })
        {
            psi.ArgumentList.Add(a);
        }

        psi.RedirectStandardOutput = true;
        using (var status = Process.Start(psi)!)
        {
            string json = await status.StandardOutput.ReadToEndAsync();
            await status.WaitForExitAsync();
            Assert.Equal(0, status.ExitCode);
            using var doc = System.Text.Json.JsonDocument.Parse(json);
            Assert.Equal("worker-1:cpu", doc.RootElement.GetProperty("devices")[0].GetProperty("device").GetProperty("label").GetString());
            Assert.Equal("Complete", doc.RootElement.GetProperty("placementStatus").GetString());
        }

        // Without --json (output redirected): the same status as plain-text tables.
        var text = NodeProcess.SelfCommand();
        foreach (var a in new[] { "status", "--cluster", pool.ApiUrl })
        {
            text.ArgumentList.Add(a);
        }

        text.RedirectStandardOutput = true;
        using (var status = Process.Start(text)!)
        {
            string table = await status.StandardOutput.ReadToEndAsync();
            await status.WaitForExitAsync();
            Assert.Equal(0, status.ExitCode);
            Assert.StartsWith("placement: complete", table, StringComparison.OrdinalIgnoreCase);
            Assert.DoesNotContain("\u001b", table, StringComparison.Ordinal);
            var row = Assert.Single(table.Split('\n'), l => l.Contains("worker-1:cpu", StringComparison.Ordinal));
            Assert.Contains("[begin..end]", row, StringComparison.Ordinal);
            Assert.Contains(table.Split('\n'), l => l.Contains("device", StringComparison.Ordinal) && l.Contains("assigned", StringComparison.Ordinal) && l.Contains("tok/s", StringComparison.Ordinal));
        }

        // Every stderr line of every node is one object of Microsoft.Extensions.Logging's JSON console (stdout carries
        // only the node's "http" and "up" lines): Akka's events (through the logger bridge), the node's own lines and
        // ASP.NET Core's alike.
        (string Level, string Category)[] Lines(NodeProcess node) =>
        [
            .. node.Tail(10_000).Split('\n', StringSplitOptions.RemoveEmptyEntries)
                .Where(l => !l.StartsWith("actorllm node up: ", StringComparison.Ordinal) && !l.StartsWith("actorllm http: ", StringComparison.Ordinal))
                .Select(l =>
                {
                    using var line = System.Text.Json.JsonDocument.Parse(l);
                    var root = line.RootElement;
                    Assert.False(string.IsNullOrEmpty(root.GetProperty("Message").GetString()), l);
                    Assert.True(DateTimeOffset.TryParse(root.GetProperty("Timestamp").GetString(), out _), l);
                    return (root.GetProperty("LogLevel").GetString()!, root.GetProperty("Category").GetString()!);
                }),
        ];

        var gateway = Lines(pool.Nodes.First(n => n.Name.Contains("gateway", StringComparison.Ordinal)));
        Assert.Contains(gateway, l => l.Category == "ActorLlm.Node" && l.Level == "Information");
        Assert.Contains(gateway, l => l.Category.StartsWith("Akka.Cluster", StringComparison.Ordinal));
        Assert.Contains(gateway, l => l.Category == "ActorLlm.Cluster.Placement.Internal.PlacementCoordinatorActor" && l.Level == "Information");

        // --log-level WARNING: the worker's lines are warnings and errors only (at least "TLS is off").
        var worker = Lines(pool.Nodes.First(n => n.Name == "worker-1"));
        Assert.NotEmpty(worker);
        Assert.All(worker, l => Assert.Contains(l.Level, new[] { "Warning", "Error", "Critical" }));
    });

    [Fact]
    public async Task A_seed_nobody_answers_at_is_reported_within_10_seconds()
    {
        Directory.CreateDirectory(WorkDir);
        var worker = NodeProcess.Start("lonely", ["--roles", "worker", "--host", "127.0.0.1", "--port", "0", "--seeds", "127.0.0.1:9", "--devices", "cpu",
            "--model", Model, "--cache-dir", Path.Combine(WorkDir, "lonely"), "--tls", "off"], Path.Combine(WorkDir, "lonely.log"));
        try
        {
            await worker.Up.WaitAsync(Timeout);
            var clock = Stopwatch.StartNew();
            while (!worker.Tail(200).Contains("not a member of the pool", StringComparison.Ordinal))
            {
                Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), "no hint within 10 s of the node being up");
                await Task.Delay(100);
            }

            Assert.Contains("is a gateway running at 127.0.0.1:9", worker.Tail(200));
        }
        finally
        {
            await worker.StopAsync(TimeSpan.FromSeconds(10));
            worker.Dispose();
        }
    }
}
