using ActorLlm.Inference.Checkpoints;
using ActorLlm.Inference.Devices;
using ActorLlm.Inference.Execution;
using ActorLlm.Inference.Generation;
using Xunit;
using Xunit.Abstractions;

namespace ActorLlm.IntegrationTests;

/// <summary>A pool serving an int8 store: workers without a model pull the int8 units (verified by sha256) and serve them.</summary>
public sealed class Int8PoolTests(ITestOutputHelper output) : PoolTestBase(output)
{
    private string Int8Store => Path.Combine(WorkDir, "stories260K-int8");

    protected override string PoolModel => Int8Store;

    [Fact]
    public Task Workers_without_a_model_pull_int8_units_and_generate_the_single_process_int8_text() => WithLogs(async () =>
    {
        UnitStoreWriter.Convert(Model, Int8Store, new ConvertOptions { Weights = WeightFormat.Int8AbsmaxPerChannel });
        var (pool, client) = await StartPoolAsync(workers: 2, workersHaveModel: false);
        var options = Greedy(48);
        var result = await client.GenerateAsync("Once upon a time", options, null, Timeout);

        using var local = LocalGenerator.Load(Int8Store, ComputeTarget.Cpu, new KvCacheOptions(1, 512));
        Assert.Equal(local.Generate("Once upon a time", WireOptions.ToOptions(options)).Text, result.Text);
        foreach (var name in new[] { "worker-1", "worker-2" })
        {
            Assert.Contains("pulled unit", File.ReadAllText(pool[name].LogPath));
        }
    });
}
