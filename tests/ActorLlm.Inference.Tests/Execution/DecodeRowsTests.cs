using ActorLlm.Inference.Checkpoints;
using ActorLlm.Inference.Devices;
using ActorLlm.Inference.Execution;
using ActorLlm.Inference.Native;
using ActorLlm.Protocol;
using Xunit;

namespace ActorLlm.Inference.Tests.Execution;

/// <summary>
/// The fixed-shape decode pass that CUDA graphs capture (<see cref="DecodePath.Rows"/>), run eagerly on the CPU against
/// the eager path: same logits for sessions in any slots, of any lengths, in any order, alone or together, with the
/// rows a pass does not serve left as they were. (Replay against this pass, bit for bit, is the GPU check's.)
/// </summary>
public sealed class DecodeRowsTests
{
    public static TheoryData<string> All => TestModels.All;

    [Theory]
    [MemberData(nameof(All))]
    public void The_fixed_rows_pass_gives_the_eager_logits_for_any_mix_of_sessions(string name)
    {
        using var source = Checkpoint.Open(TestModels.PathOf(name));
        var range = UnitRange.Whole(source.Config.NumLayers);
        var cache = new KvCacheOptions(MaxSessions: 6, MaxContext: 160);
        using var eager = StageExecutor.Load(source, range, ComputeTarget.Cpu, cache);
        using var rows = StageExecutor.Load(source, range, ComputeTarget.Cpu, cache);
        rows.DecodePath = DecodePath.Rows;
        int context = eager.CacheOptions.MaxContext;
        var random = new Random(5);
        int vocab = source.Config.VocabSize;
        int[] Prompt(int length) => Enumerable.Range(0, Math.Clamp(length, 1, context - 12)).Select(_ => random.Next(vocab)).ToArray();

        var sessions = Enumerable.Range(0, 5).Select(_ => SessionId.New()).ToArray();
        var length = new Dictionary<SessionId, int>();
        var next = new Dictionary<SessionId, int>();
        void Prefill(SessionId s, int[] prompt)
        {
            var a = Run(eager, [new StageInput(s, 0, prompt)]);
            var b = Run(rows, [new StageInput(s, 0, prompt)]);
            TensorAssert.Close(a, b, 1e-5, $"{name}: prefill is the same path on both");
            length[s] = prompt.Length;
            next[s] = ArgMax(a[0]);
        }

        void Decode(params SessionId[] pass)
        {
            var inputs = pass.Select(s => new StageInput(s, length[s], [next[s]])).ToArray();
            var a = Run(eager, inputs);
            var b = Run(rows, inputs);
            TensorAssert.Close(a, b, 1e-4, $"{name}: decode of {pass.Length} session(s) at positions {string.Join(",", pass.Select(s => length[s]))}");
            for (int i = 0; i < pass.Length; i++)
            {
                length[pass[i]]++;
                next[pass[i]] = ArgMax(a[i]);
            }
        }

        Prefill(sessions[0], Prompt(3));
        Prefill(sessions[1], Prompt(70));       // past the first key bucket (64)
        Prefill(sessions[2], Prompt(1));
        Prefill(sessions[3], Prompt(context - 14));
        Decode(sessions[2], sessions[0]);       // out of slot order, rows 1 and 3 idle
        Decode(sessions[3]);                    // one session in the last slot used: rows 0..3, three idle
        Decode(sessions[0], sessions[1], sessions[2], sessions[3]);
        Decode(sessions[1]);

        // A released slot goes to the next new session (lowest first); its old keys must not leak into the new one.
        Assert.True(eager.Release(sessions[1]) && rows.Release(sessions[1]));
        Prefill(sessions[4], Prompt(5));
        for (int step = 0; step < 3; step++)
        {
            Decode(sessions[4], sessions[3], sessions[0]);
        }

        Decode(sessions[2]);                    // idle through all of that: its cache is as it was
        Assert.Equal(DecodePath.Rows, rows.DecodePath);
    }

    [Fact]
    public void Without_the_native_library_a_stage_decodes_eagerly_and_says_why()
    {
        using var source = Checkpoint.Open(TestModels.Stories260K);
        using var stage = StageExecutor.Load(source, UnitRange.Whole(source.Config.NumLayers), ComputeTarget.Cpu);
        Assert.False(CudaNative.IsAvailable);
        Assert.Contains(NativeLibraryLoader.FileName, CudaNative.Description);
        Assert.Equal(DecodePath.Eager, stage.DecodePath);
        Assert.Equal("eager (cpu)", stage.PathDescription);
        var e = Assert.Throws<InvalidOperationException>(() => stage.DecodePath = DecodePath.Graph);
        Assert.Contains("needs CUDA and the native library", e.Message);
        Assert.Equal(0, stage.GraphCaptures);
    }

    [Theory]
    [InlineData(16, new[] { 1, 2, 4, 8, 16 })]
    [InlineData(12, new[] { 1, 2, 4, 8, 12 })]
    [InlineData(1, new[] { 1 })]
    public void Row_buckets_double_up_to_the_cache_sessions(int sessions, int[] expected) =>
        Assert.Equal(expected, NewGraphs(sessions, 2048).RowBuckets);

    [Theory]
    [InlineData(300, new[] { 64, 128, 256, 300 })]
    [InlineData(256, new[] { 64, 128, 256 })]
    [InlineData(32, new[] { 32 })]
    public void Key_buckets_double_from_64_up_to_the_context(int context, int[] expected) =>
        Assert.Equal(expected, NewGraphs(4, context).KeyBuckets);

    [Fact]
    public void A_pass_takes_the_smallest_bucket_that_holds_it()
    {
        int[] buckets = [1, 2, 4, 8, 12];
        Assert.Equal([1, 2, 4, 4, 8, 8, 12, 12], new[] { 1, 2, 3, 4, 5, 8, 9, 12 }.Select(n => DecodeGraphs.Bucket(buckets, n)));
    }

    [Fact]
    public void Sessions_take_the_lowest_free_slot_so_they_stay_packed()
    {
        using var cache = new KvCache(1, 1, 2, new KvCacheOptions(4, 8), ComputeTarget.Cpu, scratchColumn: true);
        var s = Enumerable.Range(0, 4).Select(_ => SessionId.New()).ToArray();
        Assert.Equal([0, 1, 2], s[..3].Select(cache.Acquire));
        Assert.True(cache.Release(s[1]));
        Assert.Equal(2, cache.HighestSlot);
        Assert.Equal(1, cache.Acquire(s[3]));
        Assert.Equal([4, 1, 9, 2], cache.Keys(0).shape);
        Assert.Equal(8, cache.ScratchPosition);
    }

    private static DecodeGraphs NewGraphs(int sessions, int context) =>
        new((_, _, _, _) => throw new InvalidOperationException("not run"), TorchSharp.torch.CPU, sessions, context, takesHidden: false, 8, TorchSharp.torch.ScalarType.Float32);

    private static float[][] Run(StageExecutor stage, StageInput[] inputs)
    {
        var outputs = stage.Forward(inputs);
        try
        {
            return outputs.SelectMany(o => TensorAssert.Rows(o.Logits!)).ToArray();
        }
        finally
        {
            foreach (var o in outputs)
            {
                o.Dispose();
            }
        }
    }

    private static int ArgMax(float[] row) => Array.IndexOf(row, row.Max());
}
