using System.Net.Sockets;
using ActorLlm.Cli.Pool;
using ActorLlm.Cluster.Client;
using Xunit;
using Xunit.Abstractions;

namespace ActorLlm.IntegrationTests;

/// <summary>
/// A pool of real `actorllm node` processes on 127.0.0.1 with mutual TLS on the cluster port (credentials of a test
/// CA in temporary directories): it serves over TLS, and a node with another CA's certificate, a plain-TCP node, a
/// node without credentials and a node with an expired certificate do not join; a raw TCP client throwing 10,000
/// random frames at the port gets nothing back; the refusal is logged once.
/// </summary>
public sealed class SecurityTlsPoolTests(ITestOutputHelper output) : PoolTestBase(output)
{
    [Fact]
    public Task A_tls_pool_serves_and_nodes_without_a_good_certificate_cannot_join() => WithLogs(async () =>
    {
        using var pki = new TestPki("it-pool");
        using var otherCa = new TestPki("it-pool");
        string creds = Path.Combine(WorkDir, "creds");
        string Credentials(string name) => name switch
        {
            "gateway" => pki.Credentials(Path.Combine(creds, name), name, "trusted", "gateway"),
            "worker-1" or "client" => pki.Credentials(Path.Combine(creds, name), name),
            _ => Path.Combine(creds, "none"),  // the test gives these nodes their credentials itself
        };
        var pool = Track(await LocalPool.StartAsync(new LocalPoolOptions(Model, Path.Combine(WorkDir, "pool"), Credentials: Credentials), Timeout));
        var worker = await pool.AddWorkerAsync("worker-1", Timeout);
        Assert.StartsWith("akka.ssl.tcp://actorllm@127.0.0.1:", (await worker.Up).Value, StringComparison.Ordinal);
        await using var client = await PoolClient.ConnectAsync(pool.Seed, Timeout, settings: pool.ClientSettings());
        await client.WaitForAsync(s => s.Devices.Length == 1 && s.ServesPlan() && s.Devices.All(d => d.Serving is not null), Timeout);
        Assert.Equal(SingleProcess("", Greedy(32)), (await client.GenerateAsync("", Greedy(32), null, Timeout)).Text);
        var members = (await client.StatusAsync(Timeout)).Members.Length;

        // A certificate of another CA (same pool name and subject layout): the handshake fails, the gateway logs why,
        // and Akka ends the intruder's actor system on a failed TLS handshake (it exits).
        string foreign = otherCa.Credentials(Path.Combine(creds, "intruder"), "intruder");
        var intruder = await pool.AddWorkerAsync("intruder", Timeout, true, "--set", $"actorllm.tls.credentials={foreign}");

        // A plain-TCP node: it speaks no TLS, so the gateway's TLS handler drops it before anything Akka reads.
        var plain = await pool.AddWorkerAsync("plain", Timeout, true, "--set", "actorllm.tls.enabled=off");

        // No credentials, and an expired certificate: the node refuses to start, saying how to get good ones.
        using var expiredCert = pki.Issue("expired", notBefore: DateTimeOffset.UtcNow.AddDays(-3), notAfter: DateTimeOffset.UtcNow.AddMinutes(-1));
        string expired = pki.WriteCredentials(Path.Combine(creds, "expired"), expiredCert);
        var refusedToStart = new[] { ("no-credentials", Path.Combine(creds, "missing")), ("expired", expired) }
            .Select(n => NodeProcess.Start(n.Item1, ["--roles", "worker", "--host", "127.0.0.1", "--port", "0", "--seeds", pool.Seed, "--credentials", n.Item2], Path.Combine(WorkDir, n.Item1 + ".log")))
            .ToArray();

        string gatewayLog = pool["gateway"].LogPath;
        await WaitForAsync(() => Lines(gatewayLog, "TLS: refused the association", "intruder", "not signed by this pool's CA") == 1);
        await WaitForAsync(() => intruder.HasExited);
        Assert.Contains("TLS handshake failed", Read(intruder.LogPath));
        foreach (var node in refusedToStart)
        {
            await WaitForAsync(() => node.HasExited);
        }

        Assert.Contains("actorllm node --join", Read(refusedToStart[0].LogPath));
        Assert.Contains("lacks ca.crt, node.crt, node.key", Read(refusedToStart[0].LogPath));
        Assert.Contains("expired at", Read(refusedToStart[1].LogPath));

        // 10,000 random frames (a length, then random bytes) at the TLS port, over as many connections as it takes: nothing comes back.
        long received = await RandomFramesAsync(pool.GatewayPort, 10_000);
        Output.WriteLine($"random frames: {received} bytes came back");
        Assert.Equal(0, received);

        // The same intruder again (a new process, a new source port): refused again, and not logged again.
        var again = await pool.AddWorkerAsync("intruder-again", Timeout, true, "--set", $"actorllm.tls.credentials={foreign}");
        await WaitForAsync(() => again.HasExited);
        Assert.Contains("TLS handshake failed", Read(again.LogPath));
        Assert.Equal(1, Lines(gatewayLog, "TLS: refused the association", "intruder"));
        Assert.False(plain.HasExited);
        Output.WriteLine("gateway log lines about the plain node's connections: " + Lines(gatewayLog, "NotSsl"));

        // The pool is as it was: the same members, one device, and it still serves.
        var after = await client.StatusAsync(Timeout);
        Assert.Equal(members, after.Members.Length);
        Assert.Single(after.Devices);
        Assert.Equal(SingleProcess("", Greedy(32)), (await client.GenerateAsync("", Greedy(32), null, Timeout)).Text);
    });

    private static string Read(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        return new StreamReader(stream).ReadToEnd();
    }

    private static int Lines(string path, params string[] all) =>
        Read(path).Split('\n').Count(l => all.All(a => l.Contains(a, StringComparison.Ordinal)));

    private static async Task WaitForAsync(Func<bool> condition)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (!condition())
        {
            Assert.True(clock.Elapsed < Timeout, "timed out waiting");
            await Task.Delay(100);
        }
    }

    /// <summary>Sends <paramref name="frames"/> random frames to the port, reconnecting whenever it hangs up; returns the bytes it sent back.</summary>
    private static async Task<long> RandomFramesAsync(int port, int frames)
    {
        var random = new Random(13);
        long received = 0;
        int sent = 0, connections = 0;
        var buffer = new byte[4096];
        while (sent < frames)
        {
            using var tcp = new TcpClient();
            await tcp.ConnectAsync(System.Net.IPAddress.Loopback, port);
            connections++;
            var stream = tcp.GetStream();
            try
            {
                for (; sent < frames; sent++)
                {
                    var frame = new byte[4 + random.Next(1, 200)];
                    random.NextBytes(frame);
                    await stream.WriteAsync(frame);
                    while (tcp.Available > 0)
                    {
                        received += await stream.ReadAsync(buffer);
                    }
                }

                // Whatever the port says before it hangs up (it says nothing: it waits for a TLS hello, then closes).
                using var read = new CancellationTokenSource(TimeSpan.FromSeconds(2));
                try
                {
                    int n;
                    while ((n = await stream.ReadAsync(buffer, read.Token)) > 0)
                    {
                        received += n;
                    }
                }
                catch (OperationCanceledException)
                {
                }
            }
            catch (IOException)
            {
                sent++;
            }
        }

        Assert.True(connections >= 1);
        return received;
    }
}

/// <summary>
/// A volunteer is a member without a member's powers over the others: over mutual TLS, a member whose certificate
/// says OU=volunteer calls Cluster.Down(gateway); the gateway (a real process) stays Up and serving, and the
/// volunteer is the one downed. The same call from a trusted member does down the gateway (the control).
/// </summary>
public sealed class SecurityVolunteerTests(ITestOutputHelper output) : PoolTestBase(output)
{
    [Fact]
    public Task A_volunteers_attempt_to_down_the_gateway_fails_and_the_pool_keeps_serving() => WithLogs(async () =>
    {
        using var pki = new TestPki("it-pool");
        string creds = Path.Combine(WorkDir, "creds");
        string Credentials(string name) => pki.Credentials(
            Path.Combine(creds, name), name, name.StartsWith("volunteer", StringComparison.Ordinal) ? "volunteer" : "trusted", name == "gateway" ? "gateway" : "worker");
        var pool = Track(await LocalPool.StartAsync(new LocalPoolOptions(Model, Path.Combine(WorkDir, "pool"), Credentials: Credentials), Timeout));
        await pool.AddWorkerAsync("worker-1", Timeout);
        await using var client = await PoolClient.ConnectAsync(pool.Seed, Timeout, settings: pool.ClientSettings("client"));
        await client.WaitForAsync(s => s.Devices.Length == 1 && s.ServesPlan() && s.Devices.All(d => d.Serving is not null), Timeout);
        var volunteer = await PoolClient.ConnectAsync(pool.Seed, Timeout, settings: pool.ClientSettings("volunteer-1"));
        var volunteerAddress = Akka.Cluster.Cluster.Get(volunteer.ActorSystem).SelfAddress;
        var gateway = (await client.StatusAsync(Timeout)).Members.Single(m => m.Roles.Contains("gateway")).Address;
        try
        {
            Akka.Cluster.Cluster.Get(volunteer.ActorSystem).Down(Akka.Actor.Address.Parse(gateway.Value));

            // The gateway drops what the volunteer says, says so, and downs the volunteer instead.
            string gatewayLog = pool["gateway"].LogPath;
            var clock = System.Diagnostics.Stopwatch.StartNew();
            while (!File.ReadAllText(gatewayLog).Contains("membership guard: dropped a message from volunteer volunteer-1", StringComparison.Ordinal)
                || (await client.StatusAsync(Timeout)).Members.Any(m => m.Address.Value == volunteerAddress.ToString()))
            {
                Assert.True(clock.Elapsed < Timeout, "the volunteer was not refused and removed in time");
                await Task.Delay(200);
            }

            var status = await client.StatusAsync(Timeout);
            Assert.Equal("Up", status.Members.Single(m => m.Address == gateway).Status);
            Assert.False(pool["gateway"].HasExited);
            Assert.Equal(SingleProcess("", Greedy(32)), (await client.GenerateAsync("", Greedy(32), null, Timeout)).Text);
        }
        finally
        {
            await volunteer.DisposeAsync();
        }

        // The control: a trusted member's Down(gateway) is obeyed (the gateway leaves and its process ends).
        Akka.Cluster.Cluster.Get(client.ActorSystem).Down(Akka.Actor.Address.Parse(gateway.Value));
        var control = System.Diagnostics.Stopwatch.StartNew();
        while (!pool["gateway"].HasExited)
        {
            Assert.True(control.Elapsed < Timeout, "a trusted member's Down(gateway) did not take effect");
            await Task.Delay(200);
        }
    });
}
