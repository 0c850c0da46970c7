using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using ActorLlm.Cli.Http;
using ActorLlm.Cli.Pool;
using ActorLlm.Cluster.Security;
using Xunit;
using Xunit.Abstractions;

namespace ActorLlm.IntegrationTests;

/// <summary>
/// The pool's CA end to end, as users run it: `pool init`, a gateway started from the pool directory, `pool invite`
/// then `node --join` (once), refusals of a reused, an expired and another pool's token (the last before anything is
/// sent), a restart from stored credentials with renewal, `pool revoke` reaching the running gateway and worker, a
/// revoked running worker downed, and its restart refused by the gateway's mutual TLS.
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class PoolJoinSecurityTests(ITestOutputHelper output) : PoolTestBase(output)
{
    private static async Task<(int Code, string Out, string Err)> CliAsync(params string[] args)
    {
        var psi = NodeProcess.SelfCommand();
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        psi.RedirectStandardOutput = true;
        psi.RedirectStandardError = true;
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(Timeout);
        await p.WaitForExitAsync(timeout.Token);
        return (p.ExitCode, await stdout, await stderr);
    }

    private static async Task<string> InviteAsync(string pool, string name, params string[] extra)
    {
        var (code, stdout, stderr) = await CliAsync(["pool", "invite", name, "--pool", pool, .. extra]);
        Assert.True(code == 0, stderr);
        return stdout.Trim();
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>Waits for a line in a node's log (the log is written as the process prints).</summary>
    private static async Task<string> LogLineAsync(NodeProcess node, string text)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < Timeout)
        {
            if (File.ReadAllLines(node.LogPath).FirstOrDefault(l => l.Contains(text, StringComparison.Ordinal)) is { } line)
            {
                return line;
            }

            await Task.Delay(100);
        }

        throw new TimeoutException($"no line with '{text}' in {node.Name}'s log:\n{node.Tail(40)}");
    }

    /// <summary>A node's log as it is now (the node process may be writing it meanwhile).</summary>
    private static string[] ReadLines(string path)
    {
        using var reader = new StreamReader(new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite));
        return reader.ReadToEnd().Split('\n');
    }

    private static async Task UntilAsync(Func<bool> condition, string what)
    {
        var clock = Stopwatch.StartNew();
        while (!condition())
        {
            if (clock.Elapsed > Timeout)
            {
                throw new TimeoutException($"not within {Timeout.TotalSeconds:F0} s: {what}");
            }

            await Task.Delay(100);
        }
    }

    private static async Task UntilAsync(Func<Task<bool>> condition, string what)
    {
        var clock = Stopwatch.StartNew();
        while (!await condition())
        {
            if (clock.Elapsed > Timeout)
            {
                throw new TimeoutException($"not within {Timeout.TotalSeconds:F0} s: {what}");
            }

            await Task.Delay(100);
        }
    }

    /// <summary>The gateway's <c>actorllm_tls_refusals_total</c> from its /metrics.</summary>
    private static async Task<long> TlsRefusalsAsync(string apiUrl, string apiKey)
    {
        using var http = new HttpClient();
        http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", apiKey);
        string metrics = await http.GetStringAsync(apiUrl[..apiUrl.LastIndexOf("/v1", StringComparison.Ordinal)] + "/metrics");
        var m = System.Text.RegularExpressions.Regex.Match(metrics, @"(?m)^actorllm_tls_refusals_total (\d+)");
        Assert.True(m.Success, "the gateway serves actorllm_tls_refusals_total");
        return long.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
    }

    [Fact]
    public Task Invite_then_join_works_once_and_reused_expired_and_foreign_tokens_are_refused() => WithLogs(async () =>
    {
        var clock = Stopwatch.StartNew();
        void Phase(string what) => Output.WriteLine($"{clock.Elapsed.TotalSeconds,6:F1} s  {what}");
        string dir = Path.Combine(WorkDir, "pool-ca");
        Directory.CreateDirectory(WorkDir);
        var init = await CliAsync("pool", "init", dir, "--name", "gateway", "--pool-id", "itest");
        Assert.True(init.Code == 0, init.Err);
        string other = Path.Combine(WorkDir, "other-ca");
        Assert.Equal(0, (await CliAsync("pool", "init", other, "--pool-id", "other")).Code);

        int httpsPort = FreePort();
        await using var pool = await LocalPool.StartAsync(
            new LocalPoolOptions(Model, Path.Combine(WorkDir, "nodes"), GatewayArgs: ["--pool", dir, "--pool-https-port", httpsPort.ToString(System.Globalization.CultureInfo.InvariantCulture)], Credentials: _ => dir),
            Timeout);
        var gateway = pool["gateway"];
        string url = $"https://127.0.0.1:{httpsPort}";
        Assert.Contains($"actorllm pool join: {url}", await LogLineAsync(gateway, "actorllm pool join:"));

        Phase("gateway up");

        // The join endpoint only on HTTPS, and only it there; a malformed join is a 400 and the gateway stays up.
        using (var https = new HttpClient(new SocketsHttpHandler { SslOptions = { RemoteCertificateValidationCallback = (_, _, _, _) => true } }))
        using (var plain = new HttpClient())
        {
            string apiRoot = pool.ApiUrl[..pool.ApiUrl.LastIndexOf("/v1", StringComparison.Ordinal)];
            Assert.Equal(HttpStatusCode.NotFound, (await plain.GetAsync($"{apiRoot}/pool/ca.crt")).StatusCode);
            Assert.Equal(HttpStatusCode.NotFound, (await https.GetAsync($"{url}/v1/models")).StatusCode);
            Assert.Equal(File.ReadAllText(Path.Combine(dir, "ca.crt")).Trim(), (await https.GetStringAsync($"{url}/pool/ca.crt")).Trim());
            Assert.Equal(HttpStatusCode.BadRequest, (await https.PostAsync($"{url}/pool/join", new StringContent("{not json", System.Text.Encoding.UTF8, "application/json"))).StatusCode);
            Assert.Equal(HttpStatusCode.BadRequest, (await https.PostAsync($"{url}/pool/join", new StringContent("{\"token\":\"alp1_x\",\"csr\":\"x\"}", System.Text.Encoding.UTF8, "application/json"))).StatusCode);
        }

        // Another pool's token: refused by the joining node itself, before it sends the token or a request.
        string foreign = await InviteAsync(other, "x");
        var refusedForeign = await CliAsync("node", "--join", url, "--token", foreign, "--credentials", Path.Combine(WorkDir, "x-creds"), "--roles", "");
        Assert.NotEqual(0, refusedForeign.Code);
        Assert.Contains("belongs to another pool", refusedForeign.Err);
        Assert.Contains("nothing was sent", refusedForeign.Err);
        Assert.False(Directory.Exists(Path.Combine(WorkDir, "x-creds")));

        Phase("foreign token refused");
        // A valid invite: the worker joins with no --seeds (the gateway told it its address) and serves.
        string token = await InviteAsync(dir, "w1", "--trust", "volunteer");
        string creds = Path.Combine(WorkDir, "w1-creds");
        string[] workerArgs = ["--roles", "worker", "--host", "127.0.0.1", "--port", "0", "--machine", "w1", "--devices", "cpu", "--torch-threads", "1", "--model", Model, "--cache-dir", Path.Combine(WorkDir, "w1-cache"), "--credentials", creds];
        using (var w1 = NodeProcess.Start("w1", ["--join", url, "--token", token, .. workerArgs], Path.Combine(WorkDir, "w1.log")))
        {
            await w1.Up.WaitAsync(Timeout);
            using var api = new GatewayClient(pool.ApiUrl, pool.ApiKey, Timeout);
            await api.WaitForAsync(s => s.Devices.Length == 1 && s.ServesPlan() && s.Devices.All(d => d.Serving is not null), Timeout, TimeSpan.FromMilliseconds(200));
            await w1.StopAsync(TimeSpan.FromSeconds(20));
        }

        Phase("w1 joined, served and stopped");
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(creds, "node.key")));
        using (var joined = PoolCredentials.Load(creds))
        {
            Assert.Equal(("w1", TrustLevel.Volunteer, "itest"), (joined.Identity.Name, joined.Identity.Trust, joined.Identity.PoolId));
            Assert.Equal(File.ReadAllText(Path.Combine(dir, "ca.crt")).Trim(), File.ReadAllText(Path.Combine(creds, "ca.crt")).Trim());
        }

        // The same token again (another machine, another key): refused, 409.
        var reused = await CliAsync("node", "--join", url, "--token", token, "--credentials", Path.Combine(WorkDir, "thief-creds"), "--roles", "");
        Assert.NotEqual(0, reused.Code);
        Assert.Contains("(409)", reused.Err);
        Assert.Contains("already used", reused.Err);
        Assert.False(Directory.Exists(Path.Combine(WorkDir, "thief-creds")));

        Phase("reused token refused");
        // An expired token: refused, 410.
        string expired = await InviteAsync(dir, "late", "--expires", "0.01s");
        var late = await CliAsync("node", "--join", url, "--token", expired, "--credentials", Path.Combine(WorkDir, "late-creds"), "--roles", "");
        Assert.NotEqual(0, late.Code);
        Assert.Contains("(410)", late.Err);
        Assert.Contains("expired", late.Err);

        Phase("expired token refused");
        // The gateway saw exactly two refused attempts (reused, expired): the foreign token never reached it.
        await LogLineAsync(gateway, "expired at");
        var refusals = File.ReadAllLines(gateway.LogPath).Where(l => l.Contains("pool join refused", StringComparison.Ordinal)).ToArray();
        Assert.Equal(3, refusals.Length);  // with the malformed request above
        Assert.DoesNotContain(refusals, l => l.Contains("another pool", StringComparison.Ordinal));

        Phase("refusals counted");
        // Restarted from its stored credentials (no --join, no --seeds); due for renewal, it renews over the endpoint.
        string serial;
        using (var before = PoolCredentials.Load(creds))
        {
            serial = before.Identity.Serial;
        }

        using (var again = NodeProcess.Start("w1-again", [.. workerArgs, "--set", "actorllm.pool.renew-before=60d"], Path.Combine(WorkDir, "w1-again.log")))
        {
            await again.Up.WaitAsync(Timeout);
            await LogLineAsync(again, "renewed this node's certificate");

            // Revoked: the running gateway's deny list has it at once (it follows revoked.json), and the worker's
            // too (the CA-signed entry gossiped through the cluster) and on its disk.
            var revoke = await CliAsync("pool", "revoke", "late", "--pool", dir);
            Assert.True(revoke.Code == 0, revoke.Err);
            Assert.Contains("'late'", await LogLineAsync(gateway, "deny list: revoked"));
            Assert.Contains("'late'", await LogLineAsync(again, "deny list: revoked"));
            await UntilAsync(() => File.Exists(Path.Combine(creds, "revoked.json")) && DenyList.Load(Path.Combine(creds, "revoked.json")).IsRevoked("late", ""), "the worker saves the gossiped deny list");

            // Revoking the running worker itself: the gateway downs it at once (it does not wait for a reconnect).
            Assert.Equal(0, (await CliAsync("pool", "revoke", "w1", "--pool", dir)).Code);
            Assert.Contains("(w1, serial", await LogLineAsync(gateway, "deny list: downing"));
            await UntilAsync(() => again.HasExited, "the revoked worker is downed and exits");
        }

        Phase("renewed, revoked, gossiped, revoked worker downed");
        using (var renewed = PoolCredentials.Load(creds))
        {
            Assert.NotEqual(serial, renewed.Identity.Serial);
            Assert.Equal("w1", renewed.Identity.Name);
        }

        // Restarted with its (revoked) certificate: the gateway's TLS layer refuses the association; the worker
        // never becomes a member and stops, and the gateway still serves.
        using (var api = new GatewayClient(pool.ApiUrl, pool.ApiKey, Timeout))
        {
            await api.WaitForAsync(s => s.Devices.Length == 0, Timeout, TimeSpan.FromMilliseconds(200));
            // The gateway logs a refusal once per host and reason (the downed worker's reconnects may have logged it
            // already) but counts every one: the count rising past what it was before the restart is this worker's
            // handshake refused. (Under TLS 1.3 the client finishes its side before the server checks its certificate,
            // so the worker sees either a failed handshake, and stops, or an association that never answers.)
            long before = await TlsRefusalsAsync(pool.ApiUrl, pool.ApiKey);
            using var revoked = NodeProcess.Start("w1-revoked", workerArgs, Path.Combine(WorkDir, "w1-revoked.log"));
            await UntilAsync(async () => await TlsRefusalsAsync(pool.ApiUrl, pool.ApiKey) > before, "the gateway refuses the revoked worker's handshake");
            // The line reaches the log file a moment after the count (the logger's queue, then the process's pipe).
            await UntilAsync(
                () => ReadLines(gateway.LogPath).Any(l => l.Contains("is revoked: since", StringComparison.Ordinal) && l.Contains("w1", StringComparison.Ordinal)),
                "the gateway logs the revoked certificate's refusal");
            await LogLineAsync(revoked, "Couldn't join seed nodes");
            Assert.Empty((await api.StatusAsync()).Devices);
        }
    });
}
