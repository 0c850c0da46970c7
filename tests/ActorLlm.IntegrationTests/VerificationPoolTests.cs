using System.Collections.Concurrent;
using System.Text;
using System.Text.RegularExpressions;
using ActorLlm.Cli.Pool;
using ActorLlm.Cluster.Client;
using ActorLlm.Protocol.Messages;
using Xunit;
using Xunit.Abstractions;

namespace ActorLlm.IntegrationTests;

/// <summary>
/// Verification on real processes: a gateway with actorllm.verification on, a trusted worker and a volunteer worker,
/// each holding the whole bundled model (redundancy 2), so that of two jobs started together one runs through the
/// volunteer. A volunteer made to lie (actorllm.worker.lie, with the fault-injection switch) is caught and
/// quarantined within 20 audited tokens, and every job's text (streamed and final) is the honest text; an honest
/// volunteer is never quarantined over 500 audited tokens; with verification off, nothing is audited and the liar's
/// jobs come back wrong (the control: the tests above can fail).
/// </summary>
public sealed class VerificationPoolTests(ITestOutputHelper output) : PoolTestBase(output)
{
    private const string Prompt = "Once upon a time";

    private static string[] Liar(string mode, double fraction, double size = 1.0) =>
    [
        "--set", "actorllm.worker.trust=volunteer",
        "--set", "actorllm.testing.fault-injection=on",
        "--set", $"actorllm.worker.lie.mode={mode}",
        "--set", FormattableString.Invariant($"actorllm.worker.lie.fraction={fraction}"),
        "--set", FormattableString.Invariant($"actorllm.worker.lie.relative-size={size}"),
        "--set", "actorllm.worker.lie.seed=7",
    ];

    private static readonly string[] s_honest = ["--set", "actorllm.worker.trust=volunteer"];

    private static readonly string[] s_verificationOn = ["--set", "actorllm.verification.enabled=on", "--set", "actorllm.verification.audit-every=4"];

    [Theory]
    [InlineData("perturb", 1.0, 1.0)]
    [InlineData("perturb", 0.2, 1.0)]
    [InlineData("perturb", 1.0, 0.01)]
    [InlineData("zeros", 0.2, 1.0)]
    [InlineData("other-session", 1.0, 1.0)]
    public Task A_lying_volunteer_is_quarantined_within_20_audited_tokens_and_every_text_is_the_honest_one(string mode, double fraction, double size) => WithLogs(async () =>
    {
        var (pool, client) = await StartVolunteerPoolAsync(Liar(mode, fraction, size), s_verificationOn);
        var options = Greedy(48, stopAtEos: false);
        string honest = SingleProcess(Prompt, options);
        int throughVolunteer = 0;
        for (int round = 0; round < 10 && !await QuarantinedAsync(client); round++)
        {
            var jobs = await RunTogetherAsync(client, options, 2);
            foreach (var (result, streamed, routes) in jobs)
            {
                Assert.Equal(honest, result.Text);
                Assert.Equal(honest, streamed);
                throughVolunteer += routes.Any(r => r.Stages.Any(s => s.StartsWith("volunteer-1", StringComparison.Ordinal))) ? 1 : 0;
            }
        }

        Assert.True(throughVolunteer >= 1, "no job was routed through the volunteer");
        var status = await client.StatusAsync(Timeout);
        var volunteer = status.Devices.Single(d => d.Device.Machine == "volunteer-1");
        Assert.NotNull(volunteer.Quarantined);
        Output.WriteLine($"{mode} p={fraction} e={size}: quarantined: {volunteer.Quarantined}");

        // The first job through the liar catches it: at the token the reason names, after that many honest ones.
        int caughtAt = int.Parse(Regex.Match(volunteer.Quarantined!, @"^token (\d+) failed verification").Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
        var metrics = await MetricsAsync(pool);
        Output.WriteLine($"caught at the job's token {caughtAt} (checked: {caughtAt + 1}); audited tokens in all {metrics["actorllm_verification_audited_tokens_total"]}; mismatches {metrics["actorllm_verification_mismatches_total"]}");
        Assert.True(caughtAt + 1 <= 20, $"caught after {caughtAt} honest audited tokens");
        Assert.Equal(1, metrics["actorllm_verification_mismatches_total"]);
        await WaitForAsync(async () => (await MetricsAsync(pool))["actorllm_quarantined_devices"] == 1);

        // Quarantined: no more work. Jobs after it go to the trusted worker only, and are right.
        foreach (var (result, streamed, routes) in await RunTogetherAsync(client, options, 2))
        {
            Assert.Equal(honest, result.Text);
            Assert.DoesNotContain(routes, r => r.Stages.Any(s => s.StartsWith("volunteer-1", StringComparison.Ordinal)));
        }

        Assert.Contains("QUARANTINED", File.ReadAllText(pool["gateway"].LogPath), StringComparison.Ordinal);
    });

    [Fact]
    public Task When_the_last_trusted_worker_dies_jobs_go_on_unaudited_and_say_so() => WithLogs(async () =>
    {
        var (pool, client) = await StartVolunteerPoolAsync(s_honest, s_verificationOn);
        var options = Greedy(300, stopAtEos: false);
        string honest = SingleProcess(Prompt, options);
        var flowing = new TaskCompletionSource();
        var texts = new[] { new StringBuilder(), new StringBuilder() };
        var jobs = Enumerable.Range(0, 2).Select(i => client.GenerateAsync(Prompt, options, t =>
        {
            lock (texts[i])
            {
                texts[i].Append(t);
                if (texts[i].Length > 100)
                {
                    flowing.TrySetResult();
                }
            }
        }, Timeout)).ToArray();
        await flowing.Task;
        pool["worker-1"].Kill();

        // The job on the trusted worker fails over to the volunteer, which nothing can audit now; the volunteer's job
        // loses its audit route. Both go on, unaudited, and say so.
        foreach (var (result, i) in (await Task.WhenAll(jobs)).Select((r, i) => (r, i)))
        {
            Assert.Equal(honest, result.Text);
            Assert.Equal(honest, texts[i].ToString());
        }

        Assert.Contains("VERIFICATION OFF for this job", File.ReadAllText(pool["gateway"].LogPath), StringComparison.Ordinal);
        Assert.True((await MetricsAsync(pool))["actorllm_verification_unaudited_jobs_total"] >= 1);
    });

    [Fact]
    public Task With_verification_on_scoring_jobs_never_go_through_a_volunteer() => WithLogs(async () =>
    {
        var (_, client) = await StartVolunteerPoolAsync(Liar("zeros", 1.0), s_verificationOn);
        string[] choices = ["a little girl", "a big dog", "the sun"];
        var local = ScoreSingleProcess(Prompt, choices);
        // Four at once: were volunteers allowed, the route cache would put some on the liar (zeros: scores far off).
        var results = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => client.ScoreAsync(Prompt, choices, Timeout)));
        foreach (var scores in results)
        {
            Assert.Equal(local.Select(c => (c.Index, c.Choice, c.Tokens)), scores.Scores.Select(c => (c.Index, c.Choice, c.Tokens)));
            Assert.All(local.Zip(scores.Scores), p => Assert.Equal(p.First.LogProbability, p.Second.LogProbability, 1e-4));
        }
    });

    [Fact]
    public Task A_volunteer_that_lies_in_its_hidden_states_on_a_two_stage_route_is_caught() => WithLogs(async () =>
    {
        // Four workers, redundancy 2. The volunteer's memory holds about half the model, so it can only be one stage of
        // a group with a trusted worker (the planner keeps the other group to trusted machines): it hands (perturbed)
        // hidden states to a trusted stage that computes the logits.
        using var checkpoint = Inference.Checkpoints.HfCheckpoint.Open(Model);
        var units = Inference.Checkpoints.ModelInfo.Of(checkpoint).Units;
        long half = units.Take(units.Count / 2).Sum(u => u.TensorBytes);
        string limit = ((long)Math.Ceiling(half / 0.9) + 64).ToString(System.Globalization.CultureInfo.InvariantCulture);
        var pool = Track(await LocalPool.StartAsync(new LocalPoolOptions(Model, Path.Combine(WorkDir, "pool4"), Redundancy: 2, GatewayArgs: s_verificationOn), Timeout));
        await Task.WhenAll(
            pool.AddWorkerAsync("worker-1", Timeout),
            pool.AddWorkerAsync("worker-2", Timeout),
            pool.AddWorkerAsync("worker-3", Timeout),
            pool.AddWorkerAsync("volunteer-1", Timeout, true, [.. Liar("perturb", 1.0, 0.5), "--memory-limit", limit]));
        var client = await ConnectAsync(pool);
        await client.WaitForAsync(s => s.Devices.Length == 4 && s.ServesPlan() && s.Devices.All(d => d.Serving is not null), Timeout);
        var options = Greedy(32, stopAtEos: false);
        string honest = SingleProcess(Prompt, options);
        bool multiStage = false;
        for (int round = 0; round < 10 && !await QuarantinedAsync(client); round++)
        {
            foreach (var (result, streamed, routes) in await RunTogetherAsync(client, options, 2))
            {
                Assert.Equal(honest, result.Text);
                Assert.Equal(honest, streamed);
                multiStage |= routes.Any(r => r.Stages.Length > 1 && r.Stages.Any(st => st.StartsWith("volunteer-1", StringComparison.Ordinal)));
            }
        }

        var status = await client.StatusAsync(Timeout);
        Output.WriteLine(string.Join("\n", status.Devices.Select(d => $"{d.Device.Label} {d.Serving} {d.Quarantined}")));
        Assert.True(multiStage, "the volunteer was never one stage of a longer route");
        Assert.NotNull(status.Devices.Single(d => d.Device.Machine == "volunteer-1").Quarantined);
    });

    [Fact]
    public Task An_honest_volunteer_is_never_quarantined_over_500_audited_tokens() => WithLogs(async () =>
    {
        var (pool, client) = await StartVolunteerPoolAsync(s_honest, s_verificationOn);
        var options = Greedy(128, stopAtEos: false);
        string honest = SingleProcess(Prompt, options);
        long audited = 0;
        for (int round = 0; round < 12 && audited < 500; round++)
        {
            foreach (var (result, streamed, _) in await RunTogetherAsync(client, options, 4))
            {
                Assert.Equal(honest, result.Text);
                Assert.Equal(honest, streamed);
            }

            audited = (await MetricsAsync(pool))["actorllm_verification_audited_tokens_total"];
        }

        var metrics = await MetricsAsync(pool);
        Output.WriteLine($"honest audited tokens: {audited}; mismatches {metrics["actorllm_verification_mismatches_total"]}");
        Assert.True(audited >= 500, $"only {audited} tokens were audited");
        Assert.Equal(0, metrics["actorllm_verification_mismatches_total"]);
        Assert.Equal(0, metrics["actorllm_quarantined_devices"]);
        Assert.All((await client.StatusAsync(Timeout)).Devices, d => Assert.Null(d.Quarantined));
    });

    [Fact]
    public Task With_verification_off_nothing_is_audited_a_liar_goes_unnoticed_and_trusted_only_jobs_avoid_it() => WithLogs(async () =>
    {
        var (pool, client) = await StartVolunteerPoolAsync(Liar("perturb", 1.0), []);
        var options = Greedy(32, stopAtEos: false);
        string honest = SingleProcess(Prompt, options);
        int wrong = 0;
        for (int round = 0; round < 3; round++)
        {
            foreach (var (result, _, routes) in await RunTogetherAsync(client, options, 2))
            {
                bool viaLiar = routes.Any(r => r.Stages.Any(s => s.StartsWith("volunteer-1", StringComparison.Ordinal)));
                wrong += viaLiar && result.Text != honest ? 1 : 0;
            }
        }

        var metrics = await MetricsAsync(pool);
        Assert.Equal(0, metrics["actorllm_verification_audited_tokens_total"]);
        Assert.Equal(0, metrics["actorllm_verification_mismatches_total"]);
        Assert.True(wrong >= 1, "the lying volunteer's jobs should come back wrong without verification");
        Assert.DoesNotContain("auditing the job", File.ReadAllText(pool["gateway"].LogPath), StringComparison.Ordinal);
        Assert.All((await client.StatusAsync(Timeout)).Devices, d => Assert.Null(d.Quarantined));

        // A job that asks for trusted routes never meets the liar, however many run at once.
        foreach (var (result, _, routes) in await RunTogetherAsync(client, options with { TrustedOnly = true }, 3))
        {
            Assert.Equal(honest, result.Text);
            Assert.All(routes, r => Assert.DoesNotContain(r.Stages, s => s.StartsWith("volunteer-1", StringComparison.Ordinal)));
        }
    });

    [Fact]
    public async Task A_lie_without_the_fault_injection_switch_is_refused_at_start()
    {
        var pool = Track(await LocalPool.StartAsync(new LocalPoolOptions(Model, Path.Combine(WorkDir, "refused")), Timeout));
        var node = NodeProcess.Start(
            "liar",
            ["--roles", "worker", "--host", "127.0.0.1", "--port", "0", "--seeds", pool.Seed, "--model", Model, "--set", "actorllm.tls.enabled=off", "--set", "actorllm.worker.lie.mode=zeros"],
            Path.Combine(WorkDir, "liar.log"));
        // The exit is awaited with its output drained into the log (HasExited alone may come before the last line).
        Assert.Equal(1, await node.ExitCodeAsync(Timeout));
        Assert.Contains("actorllm.testing.fault-injection", File.ReadAllText(Path.Combine(WorkDir, "liar.log")), StringComparison.Ordinal);
    }

    private async Task<(LocalPool Pool, PoolClient Client)> StartVolunteerPoolAsync(string[] volunteerArgs, string[] gatewayArgs)
    {
        var pool = Track(await LocalPool.StartAsync(new LocalPoolOptions(Model, Path.Combine(WorkDir, "pool"), Redundancy: 2, GatewayArgs: gatewayArgs), Timeout));
        await Task.WhenAll(pool.AddWorkerAsync("worker-1", Timeout), pool.AddWorkerAsync("volunteer-1", Timeout, true, volunteerArgs));
        var client = await ConnectAsync(pool);
        await client.WaitForAsync(s => s.Devices.Length == 2 && s.ServesPlan() && s.Devices.All(d => d.Serving is not null), Timeout);
        return (pool, client);
    }

    /// <summary>Polls <paramref name="condition"/> (a gateway's status poll runs every few seconds) until it holds.</summary>
    private static async Task WaitForAsync(Func<Task<bool>> condition)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (!await condition())
        {
            Assert.True(clock.Elapsed < Timeout, "timed out waiting");
            await Task.Delay(200);
        }
    }

    private static async Task<bool> QuarantinedAsync(PoolClient client) =>
        (await client.StatusAsync(Timeout)).Devices.Any(d => d.Quarantined is not null);

    /// <summary>Starts <paramref name="n"/> jobs at once (so the route cache spreads them over both replicas); their results, streamed text and routes.</summary>
    private static async Task<List<(JobMessages.GenerationCompleted Result, string Streamed, List<JobMessages.JobRouted> Routes)>> RunTogetherAsync(PoolClient client, WireGenerationOptions options, int n)
    {
        var texts = Enumerable.Range(0, n).Select(_ => new StringBuilder()).ToArray();
        var routes = Enumerable.Range(0, n).Select(_ => new ConcurrentQueue<JobMessages.JobRouted>()).ToArray();
        var results = await Task.WhenAll(Enumerable.Range(0, n).Select(i =>
            client.GenerateAsync(Prompt, options, t => { lock (texts[i]) { texts[i].Append(t); } }, Timeout, routes[i].Enqueue)));
        return [.. results.Select((r, i) => (r, texts[i].ToString(), routes[i].ToList()))];
    }

    private static async Task<Dictionary<string, long>> MetricsAsync(LocalPool pool)
    {
        using var http = new HttpClient();
        http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", pool.ApiKey);
        string text = await http.GetStringAsync(pool.ApiUrl[..pool.ApiUrl.LastIndexOf("/v1", StringComparison.Ordinal)] + "/metrics");
        var values = new Dictionary<string, long>();
        foreach (string name in new[] { "actorllm_verification_audited_tokens_total", "actorllm_verification_mismatches_total", "actorllm_quarantined_devices", "actorllm_verification_unaudited_jobs_total" })
        {
            var m = Regex.Match(text, $@"(?m)^{name} (\d+)");
            values[name] = m.Success ? long.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture) : 0;
        }

        return values;
    }
}
