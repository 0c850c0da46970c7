using System.Diagnostics;
using ActorLlm.Cli.Pool;
using Xunit;
using Xunit.Abstractions;

namespace ActorLlm.IntegrationTests;

/// <summary>
/// Long copies say how far they are: convert's progress (plain lines when standard error is not a terminal), a
/// worker's unit pulls and loads as log lines with bytes, rate and time left.
/// </summary>
public sealed class HomeLabProgressTests(ITestOutputHelper output) : PoolTestBase(output)
{
    [Fact]
    public async Task Convert_redirected_writes_progress_lines_on_stderr_and_only_its_result_on_stdout()
    {
        Directory.CreateDirectory(WorkDir);
        var psi = NodeProcess.SelfCommand();
        foreach (var a in new[] { "convert", Model, Path.Combine(WorkDir, "store") })
        {
            psi.ArgumentList.Add(a);
        }

        psi.RedirectStandardOutput = true;
        psi.RedirectStandardError = true;
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        await p.WaitForExitAsync();
        Assert.Equal(0, p.ExitCode);
        string last = (await stderr).Trim().Split('\n')[^1];
        Assert.Matches(@"^converting end \(7/7\): [\d.]+ [KM]iB of [\d.]+ [KM]iB \(100%\), [\d.]+ [KMG]?i?B/s", last);
        Assert.StartsWith("wrote 7 units", (await stdout).Trim(), StringComparison.Ordinal);
        Assert.DoesNotContain("converting", await stdout, StringComparison.Ordinal);
    }

    [Fact]
    public Task A_worker_logs_its_pulls_and_loads_as_they_go() => WithLogs(async () =>
    {
        // Small chunks and a short interval, so that the tiny model's units take several lines each.
        var (pool, client) = await StartPoolAsync(
            [["--set", "actorllm.fetch.chunk-bytes=16KiB", "--set", "actorllm.fetch.progress-interval=1ms"]], workersHaveModel: false);
        string log = pool.Nodes.First(n => n.Name == "worker-1").Tail(10_000);
        Assert.Matches(@"unit layer\.\d+: [\d.]+ [KM]iB of [\d.]+ [KM]iB \(\d+%\), [\d.]+ [KMG]?i?B/s(, \d+ s left)? from akka\.tcp://", log);
        Assert.Matches(@"worker-1:cpu: loading \[0, 7\): [\d.]+ [KM]iB of [\d.]+ [KM]iB \(\d+%\)", log);

        var options = Greedy(16);
        var job = await client.GenerateAsync("Once upon a time", options, null, Timeout);
        Assert.Equal(SingleProcess("Once upon a time", options), job.Text);
    });
}
