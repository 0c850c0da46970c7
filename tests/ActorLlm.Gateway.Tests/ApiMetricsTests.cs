using System.Text;
using System.Text.RegularExpressions;
using ActorLlm.Gateway.Api;
using ActorLlm.Gateway.Dashboard;
using ActorLlm.Protocol;
using ActorLlm.Protocol.Messages;
using Xunit;
using static ActorLlm.Gateway.Tests.Statuses;

namespace ActorLlm.Gateway.Tests;

public sealed partial class ApiMetricsTests
{
    private static async Task<string> ScrapeAsync(ApiMetrics metrics)
    {
        using var stream = new MemoryStream();
        await metrics.Registry.CollectAndExportAsTextAsync(stream);
        return Encoding.UTF8.GetString(stream.ToArray());
    }

    private static JobMessages.GenerationCompleted Completed(int generated, int failovers = 0) => new(
        SessionId.New(), "text", 3, generated, FinishReason.Length, 12, 40,
        [new StageStats("worker-1:cpu", 8, 30, generated - 1, 2L * (generated - 1)), new StageStats("worker-2:cpu", 4, 10, generated - 1, generated - 1)],
        ["worker-1:cpu", "worker-2:cpu"], failovers);

    [Fact]
    public async Task Every_metric_is_named_by_Prometheus_conventions()
    {
        var metrics = new ApiMetrics();
        var text = await ScrapeAsync(metrics);
        var types = TypeLine().Matches(text).ToDictionary(m => m.Groups["name"].Value, m => m.Groups["type"].Value);
        Assert.True(types.Count >= 25, $"only {types.Count} metrics");
        foreach (var (name, type) in types)
        {
            Assert.Matches("^actorllm_[a-z][a-z0-9_]*[a-z0-9]$", name);
            Assert.DoesNotContain("__", name);
            if (type == "counter")
            {
                Assert.EndsWith("_total", name);
            }
            else
            {
                Assert.False(name.EndsWith("_total", StringComparison.Ordinal), $"{name} is a {type} named like a counter");
            }

            if (name.Contains("seconds", StringComparison.Ordinal) || name.Contains("latency", StringComparison.Ordinal))
            {
                Assert.Matches("_seconds(_total)?$", name);
            }
        }

        Assert.Equal("histogram", types["actorllm_time_to_first_token_seconds"]);
        Assert.Equal("histogram", types["actorllm_inter_token_latency_seconds"]);
        Assert.Equal("histogram", types["actorllm_stage_decode_step_seconds"]);
        Assert.Equal("histogram", types["actorllm_stage_decode_batch_size"]);
        Assert.Equal("counter", types["actorllm_generated_tokens_total"]);
        Assert.Equal("counter", types["actorllm_failovers_total"]);
        Assert.Equal("gauge", types["actorllm_route_version"]);
        Assert.Equal("gauge", types["actorllm_jobs_running"]);
    }

    [Fact]
    public async Task A_watched_request_records_first_token_gaps_stages_failovers_and_outcomes()
    {
        var metrics = new ApiMetrics();
        var ring = new EventRing(10);
        metrics.Follow(ring);
        var session = SessionId.New();
        using (var watch = metrics.Generation(stream: true, choices: 2))
        {
            watch.Observe(new JobEvent.Routed(0, new JobMessages.JobRouted(session, 0, [], [])));
            watch.Observe(new JobEvent.Text(0, new JobMessages.TextDelta(session, 0, "")));          // no text yet: not a first token
            watch.Observe(new JobEvent.Text(0, new JobMessages.TextDelta(session, 1, "Once")));
            watch.Observe(new JobEvent.Text(0, new JobMessages.TextDelta(session, 2, " upon")));
            watch.Observe(new JobEvent.Text(0, new JobMessages.TextDelta(session, 3, " a", [new SampledToken(1, null), new SampledToken(2, null)])));
            watch.Observe(new JobEvent.Generated(0, Completed(10, failovers: 1)));
            watch.Observe(new JobEvent.Text(0, new JobMessages.TextDelta(session, 4, "late")));     // after its end: ignored
            watch.Observe(new JobEvent.Text(7, new JobMessages.TextDelta(session, 0, "x")));        // no such choice: ignored

            // Choice 1 never finishes (its client went away).
        }

        string text = await ScrapeAsync(metrics);
        Assert.Contains("actorllm_time_to_first_token_seconds_count{mode=\"stream\"} 1\n", text);
        Assert.Contains("actorllm_inter_token_latency_seconds_count{mode=\"stream\"} 2\n", text);
        Assert.Contains("actorllm_generated_tokens_total 10\n", text);
        Assert.Contains("actorllm_prompt_tokens_total 3\n", text);
        Assert.Contains("actorllm_jobs_total{outcome=\"completed\"} 1\n", text);
        Assert.Contains("actorllm_jobs_total{outcome=\"unfinished\"} 1\n", text);
        Assert.Contains("actorllm_failovers_total 1\n", text);
        Assert.Contains("actorllm_stage_decode_steps_total{stage=\"worker-1:cpu\"} 9\n", text);
        Assert.Contains("actorllm_stage_decode_batch_size_sum{stage=\"worker-1:cpu\"} 2\n", text);
        Assert.Contains("actorllm_stage_decode_batch_size_sum{stage=\"worker-2:cpu\"} 1\n", text);
        Assert.Contains("actorllm_stage_prefill_seconds_sum{stage=\"worker-1:cpu\"} 0.008\n", text);
        var failover = Assert.Single(ring.Since(0));
        Assert.Equal(PoolEventKind.Failover, failover.Kind);
        Assert.Equal("a job failed over 1 time and finished on worker-1:cpu → worker-2:cpu", failover.Message);
    }

    [Fact]
    public async Task Statuses_set_the_pool_gauges_count_rollouts_and_forget_departed_devices()
    {
        var metrics = new ApiMetrics();
        var ring = new EventRing(10);
        metrics.Follow(ring);
        int running = 3;
        metrics.TrackRunning(() => running);
        var one = Status(2, PlacementStatus.Complete, Device("worker-1", R(0, 4), R(0, 4), sessions: 2, queued: 1, tps: 150), Device("worker-2", R(4, 7), R(4, 7), sessions: 2, queued: 4, tps: 149.5));
        metrics.Status(one, [new StatusChange(PoolEventKind.Rollout, "new placement", NewPlan: true)]);
        ring.Add(PoolEventKind.Join, "worker-2 is up");
        string text = await ScrapeAsync(metrics);
        Assert.Contains("actorllm_route_version 2\n", text);
        Assert.Contains("actorllm_devices 2\n", text);
        Assert.Contains("actorllm_queued 5\n", text);
        Assert.Contains("actorllm_active_sessions 4\n", text);
        Assert.Contains("actorllm_device_tokens_per_second{device=\"worker-2:cpu\"} 149.5\n", text);
        Assert.Contains("actorllm_placement_status{status=\"Complete\"} 1\n", text);
        Assert.Contains("actorllm_placement_status{status=\"Degraded\"} 0\n", text);
        Assert.Contains("actorllm_rollouts_total 1\n", text);
        Assert.Contains("actorllm_rollout_in_progress 0\n", text);
        Assert.Contains("actorllm_jobs_running 3\n", text);
        Assert.Contains("actorllm_pool_events_total{kind=\"join\"} 1\n", text);

        var later = Status(3, PlacementStatus.Complete, Device("worker-1", R(0, 7), R(0, 4)));
        metrics.Status(later, []);
        running = 0;
        text = await ScrapeAsync(metrics);
        Assert.DoesNotContain("worker-2:cpu", text);
        Assert.Contains("actorllm_rollout_in_progress 1\n", text);
        Assert.Contains("actorllm_rollouts_total 1\n", text);
        Assert.Contains("actorllm_jobs_running 0\n", text);
    }

    [Fact]
    public void Event_kinds_are_lower_case_labels() =>
        Assert.All(Enum.GetValues<PoolEventKind>(), k => Assert.Matches("^[a-z]+$", ApiMetrics.Label(k)));

    [GeneratedRegex(@"^# TYPE (?<name>\S+) (?<type>\S+)$", RegexOptions.Multiline)]
    private static partial Regex TypeLine();
}
