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

        // The probe binds where the node would: every interface with --bind 0.0.0.0.
        (code, err, _) = await RunAsync("node", "--roles", "worker", "--bind", "0.0.0.0", "--port", pool.GatewayPort.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "--seeds", pool.Seed, "--model", Model, "--cache-dir", Path.Combine(WorkDir, "third"), "--tls", "off");
        Assert.Equal(1, code);
        Assert.Contains($"port {pool.GatewayPort} on 0.0.0.0 is already in use", err);
    });

    [Theory]
    [InlineData("error: node.host '0.0.0.0'", "node", "--roles", "worker", "--host", "0.0.0.0", "--seeds", "127.0.0.1:4050")]
    [InlineData("error: no seeds", "node", "--roles", "worker", "--host", "127.0.0.1")]
    [InlineData("error: --host 127.0.0.1 is a loopback address but the seed 192.0.2.1:4050 is not", "node", "--roles", "worker", "--host", "127.0.0.1", "--seeds", "192.0.2.1:4050")]
    [InlineData("error: --bind 127.0.0.1 listens on loopback only", "node", "--roles", "worker", "--bind", "127.0.0.1", "--host", "192.0.2.7", "--seeds", "192.0.2.1:4050")]
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

    [Fact]
    public Task Bind_0_0_0_0_with_an_advertised_host_forms_a_pool_and_a_node_without_host_advertises_its_route_to_the_seed() => WithLogs(async () =>
    {
        await using var pool = await LocalPool.StartAsync(new LocalPoolOptions(Model, Path.Combine(WorkDir, "bind"), GatewayArgs: ["--bind", "0.0.0.0"]), Timeout);
        Assert.StartsWith($"akka.tcp://actorllm@127.0.0.1:{pool.GatewayPort}", (await pool.Nodes[0].Up).Value, StringComparison.Ordinal);
        string[] common = ["--roles", "worker", "--port", "0", "--seeds", pool.Seed, "--devices", "cpu", "--torch-threads", "1", "--model", Model, "--tls", "off"];
        var everywhere = NodeProcess.Start("bind-any", [.. common, "--bind", "0.0.0.0", "--machine", "bind-any", "--cache-dir", Path.Combine(WorkDir, "ba")], Path.Combine(WorkDir, "ba.log"));
        var detected = NodeProcess.Start("detected", [.. common, "--machine", "detected", "--cache-dir", Path.Combine(WorkDir, "de")], Path.Combine(WorkDir, "de.log"));
        try
        {
            foreach (var worker in new[] { everywhere, detected })
            {
                Assert.StartsWith("akka.tcp://actorllm@127.0.0.1:", (await worker.Up.WaitAsync(Timeout)).Value, StringComparison.Ordinal);
                Assert.Contains($"advertising 127.0.0.1: the address this machine reaches the seed {pool.Seed} from", worker.Tail(200));
            }

            using var client = new GatewayClient(pool.ApiUrl, pool.ApiKey, Timeout);
            var status = await client.WaitForAsync(s => s.Devices.Length == 2 && s.ServesPlan() && s.Devices.All(d => d.Serving is not null), Timeout, TimeSpan.FromMilliseconds(200));
            Assert.Equal(["bind-any:cpu", "detected:cpu"], status.Devices.Select(d => d.Device.Label).Order());
        }
        finally
        {
            foreach (var worker in new[] { everywhere, detected })
            {
                await worker.StopAsync(TimeSpan.FromSeconds(10));
                worker.Dispose();
            }
        }
    });

    /// <summary>The arguments of a worker that never becomes a member: its seed is a closed port.</summary>
    private string[] Joining(string name) =>
        ["node", "--roles", "worker", "--port", "0", "--seeds", "127.0.0.1:9", "--devices", "cpu", "--model", Model, "--cache-dir", Path.Combine(WorkDir, name), "--tls", "off"];

    private static System.Diagnostics.ProcessStartInfo Self(params string[] args)
    {
        var psi = NodeProcess.SelfCommand();
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        return psi;
    }

    [Fact]
    public async Task Ctrl_c_ends_a_node_that_is_still_joining_within_2_seconds()
    {
        Directory.CreateDirectory(WorkDir);
        using var node = new LineProcess(Self(Joining("joining")));
        await node.WaitForLineAsync("actorllm node up: ", Timeout);
        var (code, took) = await node.InterruptAsync(Timeout);
        Assert.True(took < TimeSpan.FromSeconds(2), $"took {took.TotalSeconds:0.00} s\n{node.Output}");
        Assert.Equal(0, code);
    }

    [Fact]
    public async Task Ctrl_c_ends_a_node_whose_join_request_gets_no_answer_within_2_seconds()
    {
        // A join endpoint that accepts the connection and never answers the TLS handshake.
        using var silent = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        silent.Start();
        string url = $"https://127.0.0.1:{((System.Net.IPEndPoint)silent.LocalEndpoint).Port}";
        string token = Cluster.Security.JoinToken.Prefix + System.Buffers.Text.Base64Url.EncodeToString(new byte[64]);
        Directory.CreateDirectory(WorkDir);
        var args = Joining("join-silent").Concat(["--join", url, "--token", token, "--credentials", Path.Combine(WorkDir, "join-creds")]).ToArray();
        using var node = new LineProcess(Self(args));
        using var accepted = await silent.AcceptTcpClientAsync().WaitAsync(Timeout);
        var (code, took) = await node.InterruptAsync(Timeout);
        Assert.True(took < TimeSpan.FromSeconds(2), $"took {took.TotalSeconds:0.00} s\n{node.Output}");
        Assert.Equal(0, code);
        Assert.Contains("interrupted while joining the pool", node.Output);
    }

    [Fact]
    public async Task Demo_says_in_the_gateways_own_words_why_it_did_not_start()
    {
        using var busy = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        busy.Start();
        int port = ((System.Net.IPEndPoint)busy.LocalEndpoint).Port;
        var (code, err, _) = await RunAsync("demo", "--serve", "--http-port", port.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal(1, code);
        Assert.Contains("gateway exited (code 1) before it was up: ", err, StringComparison.Ordinal);
        Assert.Contains(port.ToString(System.Globalization.CultureInfo.InvariantCulture), err, StringComparison.Ordinal);
        Assert.DoesNotContain("InvalidOperationException", err, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_gateway_address_that_never_answers_the_connection_is_reported_within_10_seconds_not_after_timeout()
    {
        // A port whose accept queue is full: the kernel drops further SYNs, as a firewall that drops packets does.
        using var full = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.InterNetwork, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
        full.Bind(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, 0));
        full.Listen(0);
        int port = ((System.Net.IPEndPoint)full.LocalEndPoint!).Port;
        var fillers = new List<System.Net.Sockets.Socket>();
        try
        {
            while (true)
            {
                var filler = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.InterNetwork, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
                fillers.Add(filler);
                using var wait = new CancellationTokenSource(TimeSpan.FromMilliseconds(500));
                try
                {
                    await filler.ConnectAsync(System.Net.IPAddress.Loopback, port, wait.Token);
                }
                catch (OperationCanceledException)
                {
                    break; // this one hangs: the queue is full
                }

                Assert.True(fillers.Count < 64, "the accept queue never filled");
            }

            var (code, err, took) = await RunAsync("generate", "--cluster", $"http://127.0.0.1:{port}", "--prompt", "Once", "--timeout", "300");
            Assert.Equal(1, code);
            Assert.StartsWith("error: cannot reach the gateway", err.Trim(), StringComparison.Ordinal);
            Assert.True(took < TimeSpan.FromSeconds(10), $"took {took}");
        }
        finally
        {
            fillers.ForEach(f => f.Dispose());
        }
    }

    [Fact]
    public async Task Ctrl_c_ends_generate_on_a_gateway_that_does_not_answer_within_2_seconds_with_code_130()
    {
        using var silent = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        silent.Start();
        var psi = Self("generate", "--cluster", $"http://127.0.0.1:{((System.Net.IPEndPoint)silent.LocalEndpoint).Port}", "--prompt", "Once", "--timeout", "60");
        psi.Environment["ACTORLLM_API_KEY"] = "sk-test";
        using var client = new LineProcess(psi);
        using var accepted = await silent.AcceptTcpClientAsync().WaitAsync(Timeout);
        var (code, took) = await client.InterruptAsync(Timeout);
        Assert.True(took < TimeSpan.FromSeconds(2), $"took {took.TotalSeconds:0.00} s\n{client.Output}");
        Assert.Equal(130, code);
        Assert.Contains("interrupted", client.Output);
    }
}
