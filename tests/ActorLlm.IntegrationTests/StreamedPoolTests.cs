using System.Globalization;
using ActorLlm.Inference.Checkpoints;
using Xunit;
using Xunit.Abstractions;

namespace ActorLlm.IntegrationTests;

/// <summary>
/// A pool whose workers' memory limits together hold less than the bundled model in f32 serves it anyway, by
/// streaming the layers beyond a worker's memory from its host memory, and generates the text of one process.
/// </summary>
public sealed class StreamedPoolTests(ITestOutputHelper output) : PoolTestBase(output)
{
    [Fact]
    public Task A_pool_too_small_for_the_model_streams_and_generates_the_single_process_text() => WithLogs(async () =>
    {
        using var model = HfCheckpoint.Open(Model);
        var units = ModelInfo.Of(model).Units;
        long begin = units[0].TensorBytes, end = units[^1].TensorBytes, layer = units.Skip(1).SkipLast(1).Max(u => u.TensorBytes);
        long total = units.Sum(u => u.TensorBytes);

        // worker-1 holds the embedding and one layer, too little to stream (a streaming device keeps both fixed units,
        // a ring of two layers and a layer of slack resident); worker-2 holds just what streaming needs. Together they
        // hold less than the model (the planner fills 0.9 of a device's memory with weights).
        static string Limit(long weights) => ((long)Math.Ceiling(weights / 0.9) + 64).ToString(CultureInfo.InvariantCulture);
        string[] small = ["--memory-limit", Limit(begin + layer), "--pinnable-memory", "64MiB"];
        string[] streaming = ["--memory-limit", Limit(begin + end + (3 * layer)), "--pinnable-memory", "64MiB"];
        var (_, client) = await StartPoolAsync([small, streaming]);

        var status = await client.StatusAsync(Timeout);
        long resident = status.Devices.Sum(d => (long)Math.Floor(d.Device.MemoryBytes * 0.9));
        Assert.True(resident < total, $"the workers hold {resident} bytes of weights resident, the model has {total}");
        Assert.Contains(status.Devices, d => d.StreamedLayers > 0 && d.Device.PinnableBytes > 0 && d.Device.HostToDeviceBytesPerSecond > 0);
        Assert.Contains(status.Notes, n => n.StartsWith("streaming plan", StringComparison.Ordinal));
        foreach (var d in status.Devices)
        {
            Output.WriteLine($"{d.Device.Label}: serving {d.Serving}, {d.StreamedLayers} layers streamed, {d.Device.HostToDeviceBytesPerSecond / 1e9:F2} GB/s");
        }

        var fromBos = await client.GenerateAsync("", Greedy(64), null, Timeout);
        Assert.Equal(SingleProcess("", Greedy(64)), fromBos.Text);
        const string prompt = "Once upon a time, there was a dog";
        Assert.Equal(SingleProcess(prompt, Greedy(40)), (await client.GenerateAsync(prompt, Greedy(40), null, Timeout)).Text);
    });
}
