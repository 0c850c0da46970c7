using System.Collections.Concurrent;
using System.Diagnostics;
using ActorLlm.Cli.Pool;
using Xunit;
using Xunit.Abstractions;

namespace ActorLlm.IntegrationTests;

/// <summary>
/// Churn, issue 12 part 3: four jobs run back to back, each on its own prompt, while every 5 s one worker is killed
/// (SIGKILL, or SIGTERM) and a replacement started. Every job finishes with the single-process text, no node that was
/// not killed goes down (during the churn, and once the resolver has settled after it), and the pool serves after.
/// </summary>
/// <remarks>
/// The churn lasts <c>ACTORLLM_CHURN_SECONDS</c> (30 by default in the test suite; the issue's 60 with
/// <c>ACTORLLM_CHURN_SECONDS=60</c>). The 5 s between faults is the fault schedule, not a wait for anything.
/// </remarks>
public sealed class ChurnChaosTests(ITestOutputHelper output) : PoolTestBase(output)
{
    private static readonly TimeSpan s_every = TimeSpan.FromSeconds(5);

    private static TimeSpan Churn =>
        TimeSpan.FromSeconds(int.TryParse(Environment.GetEnvironmentVariable("ACTORLLM_CHURN_SECONDS"), out int s) ? s : 30);

    [Theory]
    [InlineData("SIGKILL")]
    [InlineData("SIGTERM")]
    public Task Four_jobs_keep_their_text_while_a_worker_is_replaced_every_5_seconds(string signal) => WithLogs(async () =>
    {
        var (pool, client) = await StartPoolAsync(workers: 4, redundancy: 2);
        var options = Greedy(48, stopAtEos: false);
        string[] prompts = ["Once upon a time", "The little dog", "Lily wanted to", "One day, a boy"];
        var expected = prompts.ToDictionary(p => p, p => SingleProcess(p, options));

        using var stop = new CancellationTokenSource();
        var failures = new ConcurrentQueue<string>();
        int completed = 0;
        int failovers = 0;
        var jobs = prompts.Select(prompt => Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                try
                {
                    var result = await client.GenerateAsync(prompt, options, null, Timeout);
                    if (result.Text != expected[prompt])
                    {
                        failures.Enqueue($"\"{prompt}\": the text differs from one process's: \"{result.Text}\"");
                    }

                    Interlocked.Increment(ref completed);
                    Interlocked.Add(ref failovers, result.Failovers);
                }
                catch (Exception e)
                {
                    failures.Enqueue($"\"{prompt}\": {e.GetType().Name}: {e.Message}");
                }
            }
        })).ToList();

        var killed = new List<NodeProcess>();
        var rng = new Random(12);
        int next = 5;
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < Churn)
        {
            await Task.Delay(s_every);
            var live = pool.Nodes.Where(n => n.Name.StartsWith("worker", StringComparison.Ordinal) && !killed.Contains(n)).ToList();
            var victim = live[rng.Next(live.Count)];
            killed.Add(victim);
            if (signal == "SIGKILL")
            {
                victim.Kill();
            }
            else
            {
                await victim.StopAsync(TimeSpan.FromSeconds(10));
            }

            await pool.AddWorkerAsync($"worker-{next++}", Timeout);
            AssertNobodyElseDown(pool, killed, $"after {killed.Count} {signal}s");
        }

        stop.Cancel();
        await Task.WhenAll(jobs);
        Output.WriteLine($"{signal} every {s_every.TotalSeconds:F0} s for {Churn.TotalSeconds:F0} s: {killed.Count} workers replaced, {completed} jobs completed, {failovers} failovers, {failures.Count} failures");
        Assert.Empty(failures);
        Assert.True(completed >= prompts.Length, $"only {completed} jobs completed during the churn");

        // Once the churn stops the resolver removes the dead (7 s of stable reachability) and the pool places the
        // four live workers; nobody else is downed by that decision, and a job is served with the same text.
        try
        {
            // Every member reachable: the dead were downed and removed (one left Up and unreachable blocks the rest).
            await client.WaitForAsync(s => s.Members.All(m => m.Reachable) && s.Devices.Length == 4 && s.ServesPlan() && s.Devices.All(d => d.Serving is not null), Timeout);
        }
        catch (TimeoutException)
        {
            var last = await client.StatusAsync(Timeout);
            Output.WriteLine("members: " + string.Join("; ", last.Members.Select(m => $"{m.Address} {m.Status} [{string.Join(",", m.Roles)}]{(m.Reachable ? "" : " UNREACHABLE")}")));
            Output.WriteLine("devices: " + string.Join("; ", last.Devices.Select(d => $"{d.Device.Label} assigned {d.Assigned} serving {d.Serving}")));
            throw;
        }
        var after = await client.GenerateAsync(prompts[0], options, null, Timeout);
        Assert.Equal(expected[prompts[0]], after.Text);
        AssertNobodyElseDown(pool, killed, "after the churn");
    });

    private static void AssertNobodyElseDown(LocalPool pool, List<NodeProcess> killed, string when)
    {
        var down = pool.Nodes.Where(n => !killed.Contains(n) && n.HasExited).Select(n => n.Name).ToList();
        Assert.True(down.Count == 0, $"{when}: {string.Join(", ", down)} exited without being killed");
    }
}
