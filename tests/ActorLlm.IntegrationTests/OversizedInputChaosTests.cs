using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using ActorLlm.Cluster.Client;
using Xunit;
using Xunit.Abstractions;

namespace ActorLlm.IntegrationTests;

/// <summary>
/// Input larger than the wire allows gets an answer at once, naming the limit, on both ways into a pool: the
/// membership client (which used to wait 30 s while the node logged "Discarding oversized payload") and the HTTP API.
/// </summary>
public sealed class OversizedInputChaosTests(ITestOutputHelper output) : PoolTestBase(output)
{
    private static readonly TimeSpan s_atOnce = TimeSpan.FromSeconds(5);

    [Fact]
    public Task Oversized_prompts_and_choice_lists_are_refused_at_once_with_the_limit_and_the_pool_still_serves() => WithLogs(async () =>
    {
        var (pool, client) = await StartPoolAsync(workers: 1, gatewayArgs: ["--set", "actorllm.wire.max-prompt-bytes=4000"]);
        var options = Greedy(8);

        foreach (int bytes in new[] { 1_500_000, 9_000_000 })
        {
            var clock = Stopwatch.StartNew();
            var refused = await Assert.ThrowsAsync<JobFailedException>(() => client.GenerateAsync(new string('a', bytes), options, null, Timeout));
            Output.WriteLine($"{bytes:N0}-byte prompt: {refused.Message} ({clock.ElapsedMilliseconds} ms)");
            Assert.Contains("actorllm.wire.max-prompt-bytes", refused.Message);
            Assert.True(clock.Elapsed < s_atOnce);
        }

        var choices = Enumerable.Range(0, 300).Select(i => $" choice {i}").ToArray();
        var tooMany = await Assert.ThrowsAsync<JobFailedException>(() => client.ScoreAsync("Once upon a time", choices, Timeout));
        Assert.Contains("actorllm.wire.max-choices", tooMany.Message);

        // Through the HTTP API: a body over http.max-body-bytes is a 413, 300 choices a 400 naming the limit.
        using var http = new HttpClient { BaseAddress = new Uri(pool.ApiUrl + "/"), Timeout = Timeout };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", pool.ApiKey);
        async Task<(HttpStatusCode Status, string Body, TimeSpan Took)> Post(string path, object body)
        {
            var clock = Stopwatch.StartNew();
            // Expect: 100-continue, as curl sends for large bodies: the gateway refuses an oversized one before it is uploaded.
            using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new StringContent(JsonSerializer.Serialize(body), Encoding.UTF8, "application/json") };
            request.Headers.ExpectContinue = true;
            using var response = await http.SendAsync(request);
            string text = await response.Content.ReadAsStringAsync();
            Output.WriteLine($"{path}: {(int)response.StatusCode} {text[..Math.Min(text.Length, 300)]} ({clock.ElapsedMilliseconds} ms)");
            return (response.StatusCode, text, clock.Elapsed);
        }

        var big = await Post("completions", new { model = "stories260K", prompt = new string('a', 1_500_000), max_tokens = 4 });
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, big.Status);
        Assert.True(big.Took < s_atOnce);

        var many = await Post("choices", new { model = "stories260K", prompt = "Once upon a time", choices });
        Assert.Equal(HttpStatusCode.BadRequest, many.Status);
        Assert.Contains("actorllm.wire.max-choices", many.Body);

        // A prompt under http.max-body-bytes but over the gateway's actorllm.wire.max-prompt-bytes (set to 4000 here,
        // as a chat template's text can make a rendered prompt outgrow its body): a 400 naming that limit, not a job
        // sent to a session shard that may live on another gateway, which would drop it.
        var over = await Post("completions", new { model = "stories260K", prompt = new string('a', 5000), max_tokens = 4 });
        Assert.Equal(HttpStatusCode.BadRequest, over.Status);
        Assert.Contains("actorllm.wire.max-prompt-bytes", over.Body);
        Assert.True(over.Took < s_atOnce);

        // Nothing of it reached a node, and the pool serves as before.
        Assert.Equal(SingleProcess("Once upon a time", options), (await client.GenerateAsync("Once upon a time", options, null, Timeout)).Text);
        Assert.DoesNotContain("oversized", pool.Logs(), StringComparison.OrdinalIgnoreCase);
    });
}
