using ActorLlm.Inference.Checkpoints;
using ActorLlm.Inference.Devices;
using ActorLlm.Inference.Execution;
using ActorLlm.Protocol;
using Xunit;

namespace ActorLlm.Inference.Tests.Execution;

/// <summary>
/// Stages that stream some of their layers from host memory through a ring of device buffers compute exactly what a
/// resident stage computes: on the CPU the ring is a second tensor set the host copies are copied into for every
/// layer of every pass, so the same sequence of slots, copies and reuse runs as on a GPU.
/// </summary>
public sealed class StreamedStageTests : IDisposable
{
    private static readonly int[] s_prompt = [1, 403, 407, 261, 378, 432, 383, 286, 261, 400, 428];
    private static readonly int[] s_other = [1, 261, 378, 400, 286];
    private readonly HfCheckpoint _model = HfCheckpoint.Open(RepoPaths.Stories260K);

    private int Layers => _model.Config.NumLayers;

    private StageExecutor Load(UnitRange range, LayerStreaming? streaming = null) =>
        StageExecutor.Load(_model, range, ComputeTarget.Cpu, new KvCacheOptions(MaxSessions: 4, MaxContext: 64), streaming: streaming);

    /// <summary>Prefill of two sessions (different lengths, so two passes), then decode steps of both in one batch each.</summary>
    private static List<float[][]> Run(StageExecutor stage, int decodeSteps = 6)
    {
        var a = SessionId.New();
        var b = SessionId.New();
        var outputs = new List<float[][]>();
        void Collect(IReadOnlyList<StageOutput> pass)
        {
            foreach (var o in pass)
            {
                outputs.Add(TensorAssert.Rows(o.Logits!));
                o.Dispose();
            }
        }

        Collect(stage.Forward([new StageInput(a, 0, s_prompt, AllLogits: true), new StageInput(b, 0, s_other, AllLogits: true)]));
        int[] next = [ArgMax(outputs[0][^1]), ArgMax(outputs[1][^1])];
        for (int step = 0; step < decodeSteps; step++)
        {
            int before = outputs.Count;
            Collect(stage.Forward([new StageInput(a, s_prompt.Length + step, [next[0]]), new StageInput(b, s_other.Length + step, [next[1]])]));
            next = [ArgMax(outputs[before][0]), ArgMax(outputs[before + 1][0])];
        }

        return outputs;
    }

    private static int ArgMax(float[] row) => Array.IndexOf(row, row.Max());

    private static void Same(List<float[][]> expected, List<float[][]> actual, string what)
    {
        Assert.Equal(expected.Count, actual.Count);
        for (int i = 0; i < expected.Count; i++)
        {
            // The same weights through the same ops in the same order: equal to the bit, not only close.
            TensorAssert.Close(expected[i], actual[i], 0, $"{what}, output {i}");
        }
    }

    [Theory]
    [InlineData(5, 2)]   // everything streamed (a budget of 0)
    [InlineData(4, 2)]   // exactly one layer resident
    [InlineData(3, 3)]   // the ring as large as the streamed layers: filled once, never copied again
    [InlineData(5, 3)]   // five layers through three slots: each pass starts at another slot
    [InlineData(1, 2)]   // one streamed layer, one slot
    public void A_streamed_stage_gives_the_logits_of_a_resident_one(int streamed, int ring)
    {
        var whole = UnitRange.Whole(Layers);
        using var resident = Load(whole);
        using var stage = Load(whole, new LayerStreaming(streamed, ring));

        Assert.Equal(streamed, stage.StreamedLayers);
        Assert.Equal(Layers - streamed, stage.ResidentLayers);
        Assert.Equal(new UnitRange(Layers - streamed + 1, Layers + 1), stage.StreamedUnits);
        Same(Run(resident), Run(stage), $"{streamed} streamed through {ring} slots");

        // The ring really was refilled for every layer of every pass (Run makes 8: one prefill per prompt length, 6
        // decode steps), unless it holds every streamed layer, when it was filled once.
        long layerBytes = stage.StreamedBytesPerPass / Math.Max(1, streamed);
        if (ring >= streamed)
        {
            Assert.Equal(0, stage.StreamedBytesPerPass);
        }
        else
        {
            const int Passes = 2 + 6;
            Assert.True(stage.StreamedBytesCopied >= Passes * stage.StreamedBytesPerPass, $"copied {stage.StreamedBytesCopied} bytes over {Passes} passes of {stage.StreamedBytesPerPass}");
            Assert.True(layerBytes > 0);
        }
    }

    [Fact]
    public void A_budget_smaller_than_the_range_streams_and_gives_the_same_logits()
    {
        var whole = UnitRange.Whole(Layers);
        var all = StageExecutor.StreamingFor(_model, whole, ComputeTarget.Cpu.DType, residentBudget: long.MaxValue);
        Assert.Equal(0, all.StreamedLayers);

        // The whole model in f32 less one byte: something must stream.
        var info = ModelInfo.Of(_model);
        long total = info.Units.Sum(u => u.Parameters) * 4;
        var tight = StageExecutor.StreamingFor(_model, whole, ComputeTarget.Cpu.DType, total - 1);
        Assert.InRange(tight.StreamedLayers, 1, Layers);
        Assert.Equal(Layers, StageExecutor.StreamingFor(_model, whole, ComputeTarget.Cpu.DType, 0).StreamedLayers);

        using var resident = Load(whole);
        using var stage = Load(whole, tight);
        Same(Run(resident), Run(stage), $"budget {total - 1} of {total} bytes");
    }

    [Fact]
    public void A_middle_stage_streams_from_hidden_states_like_a_resident_one()
    {
        // [begin, layer 0] then [layer 1 .. layer 3] streamed (no embedding, no head) then [layer 4, end].
        using var first = Load(new UnitRange(0, 2));
        using var middleResident = Load(new UnitRange(2, 5));
        using var middleStreamed = Load(new UnitRange(2, 5), new LayerStreaming(3));
        var session = SessionId.New();
        using var h = first.Forward([new StageInput(session, 0, s_prompt)])[0];
        using var expected = middleResident.Forward([new StageInput(session, 0, s_prompt, h.Hidden)])[0];
        using var actual = middleStreamed.Forward([new StageInput(session, 0, s_prompt, h.Hidden)])[0];
        TensorAssert.Close(expected.Hidden!, actual.Hidden!, 0, "middle stage hidden states");
        Assert.Equal(new UnitRange(2, 5), middleStreamed.StreamedUnits);
    }

    [Fact]
    public void The_fixed_shape_decode_path_streams_too()
    {
        var whole = UnitRange.Whole(Layers);
        using var resident = Load(whole);
        using var stage = Load(whole, new LayerStreaming(3));
        resident.DecodePath = DecodePath.Rows;
        stage.DecodePath = DecodePath.Rows;
        Same(Run(resident), Run(stage), "rows decode path");
        Assert.Throws<InvalidOperationException>(() => stage.DecodePath = DecodePath.Graph);
        Assert.Contains("3 of 5 layers streamed", stage.PathDescription, StringComparison.Ordinal);
    }

    [Fact]
    public void An_int8_store_streams_its_int8_layers_and_gives_the_logits_of_a_resident_int8_stage()
    {
        // Streamed layers of an int8 store travel as int8 plus scales (half the bytes of f16): the ring holds the
        // same tensors the resident stage holds, so the logits match to the bit and the copies are int8-sized.
        using var dir = new TempDir();
        UnitStoreWriter.Convert(RepoPaths.Stories260K, dir["int8"], new ConvertOptions { Weights = WeightFormat.Int8AbsmaxPerChannel });
        using var store = Checkpoint.Open(dir["int8"]);
        var whole = UnitRange.Whole(Layers);
        var cache = new KvCacheOptions(MaxSessions: 4, MaxContext: 64);
        using var resident = StageExecutor.Load(store, whole, ComputeTarget.Cpu, cache);
        using var stage = StageExecutor.Load(store, whole, ComputeTarget.Cpu, cache, streaming: new LayerStreaming(4, 2));
        Same(Run(resident), Run(stage), "int8 store, 4 streamed through 2 slots");

        using var dense = Load(whole, new LayerStreaming(4, 2));
        Assert.True(stage.StreamedBytesPerPass < dense.StreamedBytesPerPass / 2,
            $"int8 streams {stage.StreamedBytesPerPass} bytes a pass, f32 {dense.StreamedBytesPerPass}");
    }

    [Theory]
    [InlineData(-1, 2)]
    [InlineData(6, 2)]
    [InlineData(2, 0)]
    public void Impossible_streaming_is_refused(int streamed, int ring)
    {
        var e = Assert.Throws<InvalidRequestException>(() => Load(UnitRange.Whole(Layers), new LayerStreaming(streamed, ring)));
        Assert.Contains("cannot stream", e.Message, StringComparison.Ordinal);
    }

    public void Dispose() => _model.Dispose();
}

/// <summary>The pure layout: which layers stay resident for a budget.</summary>
public sealed class StreamedLayoutTests
{
    private static readonly long[] s_layers = [100, 100, 100, 100, 100];

    [Theory]
    [InlineData(long.MaxValue, 0)]
    [InlineData(550, 0)]          // everything fits
    [InlineData(549, 3)]          // fixed 50 + ring 200 leaves 299: two layers resident
    [InlineData(0, 5)]
    [InlineData(349, 5)]          // fixed + ring + 99: no layer
    [InlineData(350, 4)]          // fixed + ring + one layer: exactly one resident
    [InlineData(449, 4)]
    [InlineData(450, 3)]
    public void Streamed_layers_follow_the_budget(long budget, int expectedStreamed)
    {
        Assert.Equal(expectedStreamed, StreamLayout.StreamedLayers(s_layers, fixedBytes: 50, budget));
    }

    [Fact]
    public void Device_bytes_of_the_layout_never_exceed_a_budget_that_holds_the_fixed_units_and_the_ring()
    {
        for (long budget = 250; budget <= 600; budget += 7)
        {
            int streamed = StreamLayout.StreamedLayers(s_layers, 50, budget);
            Assert.True(StreamLayout.DeviceBytes(s_layers, 50, streamed) <= budget, $"budget {budget}: {streamed} streamed");
            Assert.Equal(streamed * 100, StreamLayout.HostBytes(s_layers, streamed));
        }
    }
}
