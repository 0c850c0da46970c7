using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using ActorLlm.Cli.Http;
using Xunit;
using Xunit.Abstractions;

namespace ActorLlm.IntegrationTests;

/// <summary>
/// The published linux-x64 binary (scripts/publish.sh) on a "spare PC": copied to a directory outside the checkout and
/// run with no `dotnet` on PATH and DOTNET_ROOT pointing nowhere, it generates the dev build's text (the dev build run as
/// a process) by itself and as a pool node, and ends within 2 s of Ctrl-C. test.sh publishes to artifacts/publish/linux-x64 before the tests; where
/// that is missing or older than this build, the test publishes it itself (about a minute).
/// </summary>
public sealed class HomeLabPublishTests(ITestOutputHelper output)
{
    private const string Prompt = "Once upon a time";
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(120);
    private static readonly SemaphoreSlim s_publishing = new(1, 1);

    private static string Model => Path.Combine(AppContext.BaseDirectory, "models", "stories260K");

    [Fact]
    public async Task The_published_binary_generates_the_dev_builds_text_outside_the_checkout_without_the_SDK()
    {
        using var dir = new TempDir();
        string exe = await SparePcAsync(dir.Path);
        var (code, stdout, stderr) = await RunAsync(exe, dir.Path, "generate", "--prompt", Prompt, "--max-tokens", "24", "-q");
        Assert.True(code == 0, $"exit code {code}: {stderr}");
        Assert.Equal(await DevBuildTextAsync(24), stdout.TrimEnd('\n'));
    }

    [Fact]
    public async Task The_published_binary_runs_a_node_that_serves_the_API_and_ends_on_ctrl_c()
    {
        using var dir = new TempDir();
        string exe = await SparePcAsync(dir.Path);
        string port = FreePort();
        string key = Gateway.Api.ApiKeys.Generate();
        var psi = Command(exe, dir.Path, "node", "--roles", "gateway,worker", "--port", port, "--seeds", $"127.0.0.1:{port}", "--model", Path.Combine(dir.Path, "app", "models", "stories260K"),
            "--http-port", "0", "--tls", "off", "--devices", "cpu", "--torch-threads", "1", "--cache-dir", Path.Combine(dir.Path, "cache"));
        psi.Environment["ACTORLLM_API_KEYS"] = key;
        using var node = new LineProcess(psi);
        try
        {
            string http = await node.WaitForLineAsync("actorllm http: ", s_timeout);
            string url = http["actorllm http: ".Length..].Trim();
            using var client = new GatewayClient(url, key, s_timeout);
            await client.WaitForAsync(s => s.Devices.Length == 1 && s.ServesPlan(), s_timeout, TimeSpan.FromMilliseconds(200));

            var gen = Command(exe, dir.Path, "generate", "--cluster", url, "--prompt", Prompt, "--max-tokens", "24", "-q");
            gen.Environment["ACTORLLM_API_KEY"] = key;
            var (code, stdout, stderr) = await RunAsync(gen);
            Assert.True(code == 0, $"exit code {code}: {stderr}");
            Assert.Equal(await DevBuildTextAsync(24), stdout.TrimEnd('\n'));

            var (exit, took) = await node.InterruptAsync(s_timeout);
            Assert.True(took < TimeSpan.FromSeconds(2), $"the node took {took.TotalSeconds:0.00} s to end after SIGINT");
            Assert.Equal(0, exit);
        }
        catch
        {
            output.WriteLine(node.Output);
            throw;
        }
    }

    /// <summary>What the dev build (this test's own `actorllm`, run as a process as users run it) generates.</summary>
    private static async Task<string> DevBuildTextAsync(int tokens)
    {
        var psi = Cli.Pool.NodeProcess.SelfCommand();
        foreach (var a in new[] { "generate", "--model", Model, "--prompt", Prompt, "--max-tokens", tokens.ToString(System.Globalization.CultureInfo.InvariantCulture), "-q" })
        {
            psi.ArgumentList.Add(a);
        }

        var (code, stdout, stderr) = await RunAsync(psi);
        Assert.True(code == 0, $"the dev build's generate failed ({code}): {stderr}");
        Assert.False(string.IsNullOrWhiteSpace(stdout));
        return stdout.TrimEnd('\n');
    }

    /// <summary>The published directory hard-linked (copied where links fail) to <paramref name="dir"/>/app; returns its executable.</summary>
    private async Task<string> SparePcAsync(string dir)
    {
        string published = await PublishedAsync();
        string app = Path.Combine(dir, "app");
        var (code, _, err) = await RunAsync(new ProcessStartInfo("cp", ["-al", published, app]));
        if (code != 0)
        {
            output.WriteLine($"cp -al failed ({err.Trim()}); copying");
            (code, _, err) = await RunAsync(new ProcessStartInfo("cp", ["-a", published, app]));
            Assert.True(code == 0, err);
        }

        Assert.False(File.Exists(Path.Combine(app, "actorllm.dll")), "a single-file publish has no actorllm.dll beside the executable");
        return Path.Combine(app, "actorllm");
    }

    /// <summary>artifacts/publish/linux-x64, published now if missing or older than this build's actorllm.dll.</summary>
    private async Task<string> PublishedAsync()
    {
        string published = Path.Combine(RepoPaths.Root, "artifacts", "publish", "linux-x64");
        string exe = Path.Combine(published, "actorllm");
        string built = Path.Combine(AppContext.BaseDirectory, "actorllm.dll");
        await s_publishing.WaitAsync();
        try
        {
            if (!File.Exists(exe) || File.GetLastWriteTimeUtc(exe) < File.GetLastWriteTimeUtc(built))
            {
                output.WriteLine($"publishing {published} (missing or older than {built})");
                var (code, stdout, stderr) = await RunAsync(new ProcessStartInfo("bash", [Path.Combine(RepoPaths.Root, "scripts", "publish.sh"), "linux-x64", published]), TimeSpan.FromMinutes(10));
                Assert.True(code == 0, $"scripts/publish.sh failed ({code}): {stdout}\n{stderr}");
            }
        }
        finally
        {
            s_publishing.Release();
        }

        return published;
    }

    /// <summary>The published executable with working directory <paramref name="dir"/>, no dotnet on PATH and DOTNET_ROOT pointing nowhere.</summary>
    private static ProcessStartInfo Command(string exe, string dir, params string[] args)
    {
        var psi = new ProcessStartInfo(exe, args) { WorkingDirectory = dir };
        string empty = Path.Combine(dir, "empty-path");
        Directory.CreateDirectory(empty);
        psi.Environment["PATH"] = empty;
        psi.Environment["DOTNET_ROOT"] = Path.Combine(dir, "no-dotnet");
        psi.Environment.Remove("ACTORLLM_MODEL");
        return psi;
    }

    private static Task<(int Code, string Out, string Err)> RunAsync(string exe, string dir, params string[] args) => RunAsync(Command(exe, dir, args));

    private static async Task<(int Code, string Out, string Err)> RunAsync(ProcessStartInfo psi, TimeSpan? timeout = null)
    {
        psi.RedirectStandardOutput = true;
        psi.RedirectStandardError = true;
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        using var cancel = new CancellationTokenSource(timeout ?? s_timeout);
        try
        {
            await p.WaitForExitAsync(cancel.Token);
        }
        catch (OperationCanceledException)
        {
            p.Kill(entireProcessTree: true);
            throw;
        }

        return (p.ExitCode, await stdout, await stderr);
    }

    private static string FreePort()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        try
        {
            return ((IPEndPoint)listener.LocalEndpoint).Port.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }
        finally
        {
            listener.Stop();
        }
    }
}
