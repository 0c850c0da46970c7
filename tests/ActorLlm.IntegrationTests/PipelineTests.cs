using ActorLlm.Protocol.Messages;
using Xunit;
using Xunit.Abstractions;

namespace ActorLlm.IntegrationTests;

/// <summary>A pool of a gateway and three worker processes generates exactly what one process does.</summary>
public sealed class PipelineTests(ITestOutputHelper output) : PoolTestBase(output)
{
    [Fact]
    public Task Three_workers_generate_the_single_process_text() => WithLogs(async () =>
    {
        var (_, client) = await StartPoolAsync(workers: 3);
        var status = await client.StatusAsync(Timeout);
        Assert.Equal(3, status.Devices.Count(d => d.Serving is not null));

        var recorded = new Recorded();
        var fromBos = await client.GenerateAsync("", Greedy(64), recorded.OnText, Timeout, recorded.OnRouted);
        Assert.Equal(SingleProcess("", Greedy(64)), fromBos.Text);
        Assert.StartsWith("Once upon a time, there was a little girl named Lily. She loved to play outside in the park.", fromBos.Text);
        Assert.Equal(fromBos.Text, string.Concat(recorded.Deltas.Select(d => d.Text)));
        Assert.Equal(3, (await recorded.FirstRoute.Task).Stages.Length);
        Assert.Equal(3, fromBos.Stages.Length);
        Assert.Equal(0, fromBos.Failovers);

        const string prompt = "Once upon a time, there was a dog";
        var continued = await client.GenerateAsync(prompt, Greedy(40), null, Timeout);
        Assert.Equal(SingleProcess(prompt, Greedy(40)), continued.Text);
    });

    [Fact]
    public Task Eight_concurrent_jobs_from_two_clients_all_complete_correctly() => WithLogs(async () =>
    {
        var (pool, first) = await StartPoolAsync(workers: 3);
        var second = await ConnectAsync(pool);
        string[] prompts = ["", "Tim", "Lily went to the", "The cat", "One day", "Sue had a red", "Ben and Mia", "The sun"];
        var jobs = prompts.Select((p, i) =>
        {
            // Half greedy, half sampled with a seed: both must match one process exactly.
            var options = i % 2 == 0 ? Greedy(48) : new WireGenerationOptions(48, new WireSampling(0.9f, 40, 0.95f, 1.1f, (ulong)(100 + i)), [], true);
            var client = i < 4 ? first : second;
            return (Prompt: p, Options: options, Task: client.GenerateAsync(p, options, null, Timeout));
        }).ToList();

        await Task.WhenAll(jobs.Select(j => j.Task));
        foreach (var j in jobs)
        {
            Assert.Equal(SingleProcess(j.Prompt, j.Options), (await j.Task).Text);
        }
    });

    [Fact]
    public Task Scoring_on_the_pool_ranks_like_one_process() => WithLogs(async () =>
    {
        var (_, client) = await StartPoolAsync(workers: 2);
        const string prompt = "Once upon a time, there was a little girl named";
        string planted = SingleProcess(prompt, Greedy(2));
        string[] choices = [" zebra fish", planted, " purple", " 42"];
        var scores = await client.ScoreAsync(prompt, choices, Timeout);
        var local = ScoreSingleProcess(prompt, choices);

        // The same ranking, token counts and log-probabilities (f32 on the CPU: the stages compute what one process does).
        Assert.Equal(planted, scores.Scores[0].Choice);
        Assert.Equal(local.Select(c => (c.Index, c.Choice, c.Tokens)), scores.Scores.Select(c => (c.Index, c.Choice, c.Tokens)));
        Assert.All(local.Zip(scores.Scores), p => Assert.Equal(p.First.LogProbability, p.Second.LogProbability, 1e-4));
    });

    [Fact]
    public Task Bad_jobs_get_a_clear_error_and_the_pool_keeps_serving() => WithLogs(async () =>
    {
        var (_, client) = await StartPoolAsync(workers: 2);
        string tooLong = string.Concat(Enumerable.Repeat("word ", 600));
        var error = await Assert.ThrowsAsync<Cluster.Client.JobFailedException>(() => client.GenerateAsync(tooLong, Greedy(8), null, Timeout));
        Assert.Contains("context", error.Message);
        var sampling = await Assert.ThrowsAsync<Cluster.Client.JobFailedException>(
            () => client.GenerateAsync("x", new WireGenerationOptions(8, new WireSampling(-1, 0, 1, 1, 0), [], true), null, Timeout));
        Assert.Contains("temperature", sampling.Message);
        Assert.Equal(SingleProcess("", Greedy(16)), (await client.GenerateAsync("", Greedy(16), null, Timeout)).Text);
    });
}
