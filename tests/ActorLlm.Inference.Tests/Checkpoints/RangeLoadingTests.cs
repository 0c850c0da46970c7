using ActorLlm.Inference.Checkpoints;
using ActorLlm.Inference.Devices;
using ActorLlm.Inference.Execution;
using ActorLlm.Protocol;
using Xunit;
using static TorchSharp.torch;

namespace ActorLlm.Inference.Tests.Checkpoints;

/// <summary>A stage reads the bytes of its own units' tensors and nothing else, from a checkpoint or a store.</summary>
public sealed class RangeLoadingTests : IDisposable
{
    private static readonly int[] s_prompt = [1, 403, 407, 261, 378];
    private readonly TempDir _dir = new();

    public static TheoryData<string, int, int> Ranges => new()
    {
        { "stories260K", 2, 4 },
        { "stories260K", 0, 1 },
        { "stories260K", 6, 7 },
        { "stories260K", 0, 7 },
        { "llama-linear-bf16-sharded", 2, 4 },
        { "llama-linear-bf16-sharded", 3, 5 },
    };

    /// <summary>Data bytes of the tensors units [start, end) need, from the checkpoint's headers.</summary>
    private static long ExpectedBytes(HfCheckpoint checkpoint, int start, int end) =>
        Enumerable.Range(start, end - start)
            .SelectMany(u => UnitTensors.Required(checkpoint.Config, u, checkpoint.Contains))
            .Sum(n => checkpoint.Entry(n).Length);

    [Theory]
    [MemberData(nameof(Ranges))]
    public void Loading_a_range_reads_exactly_its_units_tensor_bytes(string model, int start, int end)
    {
        string hf = TestModels.PathOf(model);
        UnitStoreWriter.Convert(hf, _dir.Path);
        using var checkpoint = HfCheckpoint.Open(hf);
        long expected = ExpectedBytes(checkpoint, start, end);

        using var store = UnitStore.Open(_dir.Path);
        foreach (var source in new IWeightSource[] { checkpoint, store })
        {
            Assert.Equal(0, source.BytesRead);
            using var stage = StageExecutor.Load(source, new UnitRange(start, end), ComputeTarget.Cpu);
            Assert.Equal(expected, source.BytesRead);
        }
    }

    [Fact]
    public void A_range_loads_from_a_store_whose_other_unit_files_are_gone()
    {
        UnitStoreWriter.Convert(RepoPaths.Stories260K, _dir.Path);
        using (var full = UnitStore.Open(_dir.Path))
        {
            for (int u = 0; u < full.UnitCount; u++)
            {
                if (u is not 2 and not 3)
                {
                    File.Delete(full.UnitPath(u));
                }
            }
        }

        using var store = UnitStore.Open(_dir.Path);
        Assert.Equal([2, 3], store.PresentUnits());
        using var checkpoint = HfCheckpoint.Open(RepoPaths.Stories260K);
        using var fromStore = StageExecutor.Load(store, new UnitRange(2, 4), ComputeTarget.Cpu);
        using var fromCheckpoint = StageExecutor.Load(checkpoint, new UnitRange(2, 4), ComputeTarget.Cpu);

        using var generator = new Generator(7);
        using var hidden = randn([s_prompt.Length, store.Config.HiddenSize], generator: generator);
        using var a = fromStore.Forward([new StageInput(SessionId.New(), 0, s_prompt, hidden)])[0];
        using var b = fromCheckpoint.Forward([new StageInput(SessionId.New(), 0, s_prompt, hidden)])[0];
        Assert.Equal(0.0, TensorAssert.MaxAbsDiff(TensorAssert.Rows(b.Hidden!), TensorAssert.Rows(a.Hidden!)));

        var e = Assert.Throws<ModelFormatException>(() => StageExecutor.Load(store, new UnitRange(1, 3), ComputeTarget.Cpu));
        Assert.Contains("layer.0", e.Message);
        Assert.Contains("not in this store", e.Message);
    }

    public void Dispose() => _dir.Dispose();
}
