using ActorLlm.Inference.Checkpoints;
using ActorLlm.Inference.Devices;
using ActorLlm.Inference.Execution;
using ActorLlm.Inference.Generation;
using ActorLlm.Protocol;
using Xunit;
using static TorchSharp.torch;

namespace ActorLlm.Inference.Tests.Int8;

/// <summary>
/// Stores written by <c>convert --weights int8</c>: what the files hold, that they load and compute what their
/// dequantized weights compute, how close they are to the source (stories260K), that peers' pulls verify them, and
/// the memory estimate.
/// </summary>
public sealed class Int8StoreTests : IDisposable
{
    private readonly TempDir _dir = new();

    private static ConvertOptions Int8 => new() { Weights = WeightFormat.Int8AbsmaxPerChannel };

    [Theory]
    [MemberData(nameof(TestModels.All), MemberType = typeof(TestModels))]
    public void An_int8_store_computes_what_its_dequantized_weights_compute(string model)
    {
        // Every fixture: tied and untied heads, q/k/v and MLP biases, f16 and bf16 sources, a sharded checkpoint.
        // Computing (x q^T) x scale instead of x (q x scale)^T changes only f32 rounding.
        string hf = TestModels.PathOf(model);
        UnitStoreWriter.Convert(hf, _dir["int8"], Int8);
        using var store = Checkpoint.Open(_dir["int8"]);
        Assert.Equal(WeightFormat.Int8AbsmaxPerChannel, store.Weights);
        var ids = Int8Stores.Ids(store.Config.VocabSize);
        var expected = Int8Stores.Logits(Int8Stores.WriteDequantized(hf, _dir["dense"]), ids);
        var actual = Int8Stores.Logits(store, ids);
        double scale = expected.SelectMany(r => r).Max(v => Math.Abs(v));
        TensorAssert.Close(expected, actual, 1e-5 * Math.Max(1, scale), $"{model}: int8 store vs its dequantized dense model");
    }

    [Fact]
    public void Stories260K_in_int8_stays_within_the_measured_tolerance_of_the_source()
    {
        // Measured (docs/benchmarks.md, `actorllm quality`): max |logit difference| 0.31 over the four prompts, mean
        // 0.056; greedy text first differs after 90 tokens at the earliest. The bounds leave room for other CPUs'
        // summation order, and still fail a mistake: a lost or doubled scale moves logits by whole units.
        UnitStoreWriter.Convert(TestModels.Stories260K, _dir["int8"], Int8);
        int[] ids = [1, 403, 407, 261, 378, 213, 395, 9, 31, 200, 88, 400, 17, 300, 5, 99];
        var source = Int8Stores.Logits(TestModels.Stories260K, ids);
        var int8 = Int8Stores.Logits(_dir["int8"], ids);
        double max = TensorAssert.MaxAbsDiff(source, int8);
        double mean = source.Zip(int8).SelectMany(p => p.First.Zip(p.Second, (a, b) => Math.Abs(a - b))).Average();
        Assert.True(max <= 0.5, $"max |source - int8| = {max}");
        Assert.True(mean <= 0.1, $"mean |source - int8| = {mean}");
        Assert.True(max > 0, "the int8 store must not be the source itself");

        using var a = LocalGenerator.Load(TestModels.Stories260K, ComputeTarget.Cpu);
        using var b = LocalGenerator.Load(_dir["int8"], ComputeTarget.Cpu);
        var options = new GenerationOptions { MaxTokens = 64, StopAtEos = false };
        Assert.Equal(a.Generate("Once upon a time", options).GeneratedIds, b.Generate("Once upon a time", options).GeneratedIds);
    }

    [Theory]
    [InlineData("bf16")]
    [InlineData("f16")]
    public void Int8_weights_compute_in_bf16_and_f16_like_the_source_does(string dtype)
    {
        // bf16 scales the matmul's output; f16 scales the weight first (x q^T alone could pass f16's range). Either
        // way the int8 model in that dtype is as far from the f32 source as the source itself in that dtype, give or
        // take the quantization error measured in f32.
        UnitStoreWriter.Convert(TestModels.Stories260K, _dir["int8"], Int8);
        var target = ComputeTarget.Parse("cpu", dtype);
        int[] ids = [1, 403, 407, 261, 378, 213, 395, 9, 31, 200];
        var reference = Int8Stores.Logits(TestModels.Stories260K, ids);
        double sourceInDtype = TensorAssert.MaxAbsDiff(reference, Int8Stores.Logits(TestModels.Stories260K, ids, target));
        double int8InDtype = TensorAssert.MaxAbsDiff(reference, Int8Stores.Logits(_dir["int8"], ids, target));
        Assert.True(int8InDtype <= sourceInDtype + 0.5, $"{dtype}: int8 {int8InDtype} vs source {sourceInDtype} from the f32 source");
    }

    [Fact]
    public void The_projection_weights_are_int8_with_f32_scales_and_everything_else_is_copied()
    {
        UnitStoreWriter.Convert(TestModels.Stories260K, _dir["source"]);
        var result = UnitStoreWriter.Convert(TestModels.Stories260K, _dir["int8"], Int8);
        using var source = UnitStore.Open(_dir["source"]);
        using var store = UnitStore.Open(_dir["int8"]);
        var config = store.Config;
        Assert.Equal(WeightFormat.Int8AbsmaxPerChannel, store.Manifest.Weights);
        Assert.Equal([SafetensorsDType.F32, SafetensorsDType.I8], store.Manifest.DTypes);
        Assert.Equal(result.Manifest.ToJson(), store.Manifest.ToJson());
        for (int unit = 0; unit < config.UnitCount; unit++)
        {
            // The manifest's size and sha256 cover the int8 files: a peer's pull and every load verify them.
            Assert.True(store.VerifyUnit(unit));
            var tensors = store.Unit(unit).Tensors.ToDictionary(t => t.Name);
            var quantized = UnitTensors.QuantizedWeights(config, unit);
            Assert.Equal(unit is > 0 and <= 5 ? 7 : 0, quantized.Count);
            foreach (string name in quantized)
            {
                Assert.Equal(SafetensorsDType.I8, tensors[name].DType);
                Assert.Equal(source.Describe(name).Shape, tensors[name].Shape);
                var scale = tensors[Int8Quantization.ScaleName(name)];
                Assert.Equal(SafetensorsDType.F32, scale.DType);
                Assert.Equal([tensors[name].Shape[0]], scale.Shape);
            }

            foreach (var t in tensors.Values.Where(t => !quantized.Contains(t.Name) && !t.Name.EndsWith(Int8Quantization.ScaleSuffix, StringComparison.Ordinal)))
            {
                Assert.Equal(source.Describe(t.Name), t, new TensorInfoComparer());
            }

            if (quantized.Count == 0)
            {
                // Embedding, final norm and head: the source's values, bit for bit.
                Assert.Equal(source.Unit(unit).Tensors.Count, store.Unit(unit).Tensors.Count);
                foreach (var t in source.Unit(unit).Tensors)
                {
                    using var expected = source.Load(t.Name);
                    using var actual = store.Load(t.Name);
                    Assert.Equal(expected.data<float>().ToArray(), actual.data<float>().ToArray());
                }
            }
            else
            {
                // f32 -> int8 plus one f32 scale per 64-wide row: about 0.27 of the bytes.
                Assert.InRange(store.Unit(unit).Bytes, source.Unit(unit).Bytes / 5, source.Unit(unit).Bytes * 3 / 10);
            }
        }

        using var file = SafetensorsFile.Open(store.UnitPath(1));
        Assert.Equal("int8-absmax-per-channel", file.Metadata["actorllm.weights"]);
    }

    private sealed class TensorInfoComparer : IEqualityComparer<TensorInfo>
    {
        public bool Equals(TensorInfo? x, TensorInfo? y) => x!.Name == y!.Name && x.DType == y.DType && x.Shape.SequenceEqual(y.Shape);

        public int GetHashCode(TensorInfo obj) => obj.Name.GetHashCode(StringComparison.Ordinal);
    }

    [Fact]
    public void A_peer_without_the_model_installs_int8_units_and_refuses_source_ones()
    {
        UnitStoreWriter.Convert(TestModels.Stories260K, _dir["source"]);
        UnitStoreWriter.Convert(TestModels.Stories260K, _dir["int8"], Int8);
        using var int8 = UnitStore.Open(_dir["int8"]);
        using var peer = TestModels.EmptyCopy(int8, _dir["peer"]);
        Assert.Equal(WeightFormat.Int8AbsmaxPerChannel, peer.Weights);

        string wrong = _dir["pulled-source-layer"];
        File.Copy(Path.Combine(_dir["source"], "layer.2.safetensors"), wrong);
        Assert.Contains("not installed", Assert.Throws<ModelFormatException>(() => peer.InstallUnit(3, wrong)).Message);

        for (int unit = 0; unit < int8.UnitCount; unit++)
        {
            string pulled = _dir[$"pulled-{unit}"];
            File.Copy(int8.UnitPath(unit), pulled);
            peer.InstallUnit(unit, pulled);
        }

        var ids = Int8Stores.Ids(int8.Config.VocabSize);
        Assert.Equal(0.0, TensorAssert.MaxAbsDiff(Int8Stores.Logits(int8, ids), Int8Stores.Logits(peer, ids)));
    }

    [Fact]
    public void The_fixed_rows_decode_pass_that_graphs_capture_matches_eager_on_an_int8_store()
    {
        UnitStoreWriter.Convert(TestModels.Stories260K, _dir["int8"], Int8);
        using var source = Checkpoint.Open(_dir["int8"]);
        var range = UnitRange.Whole(source.Config.NumLayers);
        var cache = new KvCacheOptions(MaxSessions: 3, MaxContext: 96);
        using var eager = StageExecutor.Load(source, range, ComputeTarget.Cpu, cache);
        using var rows = StageExecutor.Load(source, range, ComputeTarget.Cpu, cache);
        rows.DecodePath = DecodePath.Rows;
        var sessions = new[] { SessionId.New(), SessionId.New() };
        int[][] prompts = [[1, 403, 407], [1, 9, 31, 200, 88]];
        var next = new int[2];
        var length = new int[2];
        for (int i = 0; i < 2; i++)
        {
            using var a = eager.Forward([new StageInput(sessions[i], 0, prompts[i])])[0];
            using var b = rows.Forward([new StageInput(sessions[i], 0, prompts[i])])[0];
            TensorAssert.Close(a.Logits!, b.Logits!, 1e-5, $"prefill {i}");
            next[i] = (int)a.Logits!.argmax(-1).item<long>();
            length[i] = prompts[i].Length;
        }

        for (int step = 0; step < 20; step++)
        {
            var inputs = sessions.Select((s, i) => new StageInput(s, length[i], [next[i]])).ToArray();
            var a = eager.Forward(inputs);
            var b = rows.Forward(inputs);
            for (int i = 0; i < 2; i++)
            {
                TensorAssert.Close(a[i].Logits!, b[i].Logits!, 1e-4, $"step {step}, session {i}");
                next[i] = (int)a[i].Logits!.argmax(-1).item<long>();
                length[i]++;
                a[i].Dispose();
                b[i].Dispose();
            }
        }
    }

    [Theory]
    [InlineData(DecodePath.Eager)]
    [InlineData(DecodePath.Rows)]
    public void Int8_decode_steps_keep_the_live_tensor_count_flat(DecodePath path)
    {
        // The converted weight of each projection is a temporary of its step: none may outlive it.
        UnitStoreWriter.Convert(TestModels.Stories260K, _dir["int8"], Int8);
        using var model = UnitStore.Open(_dir["int8"]);
        using var stage = StageExecutor.Load(model, UnitRange.Whole(model.Config.NumLayers), ComputeTarget.Cpu, new KvCacheOptions(2, 512));
        stage.DecodePath = path;

        long Run(int steps)
        {
            var session = SessionId.New();
            int token = 1;
            for (int position = 0; position < steps; position++)
            {
                using var output = stage.Forward([new StageInput(session, position, [token])])[0];
                using var next = output.Logits!.argmax(-1);
                token = (int)next.item<long>();
            }

            stage.Release(session);
            return TorchSharp.DisposeScopeManager.Statistics.TensorStatistics.ThreadTotalLiveCount;
        }

        long afterWarmup = Run(50);
        long afterMany = Run(400);
        Assert.Equal(afterWarmup, afterMany);
    }

    [Fact]
    public void Info_estimates_int8_memory_for_a_source_model_and_reports_an_int8_store_as_it_is()
    {
        UnitStoreWriter.Convert(TestModels.Stories260K, _dir["int8"], Int8);
        using var hf = HfCheckpoint.Open(TestModels.Stories260K);
        using var store = UnitStore.Open(_dir["int8"]);
        var sourceInfo = ModelInfo.Of(hf);
        var int8Info = ModelInfo.Of(store);
        Assert.Equal(WeightFormat.Source, sourceInfo.Weights);
        Assert.Equal(WeightFormat.Int8AbsmaxPerChannel, int8Info.Weights);
        Assert.Equal(sourceInfo.Parameters, int8Info.Parameters);

        // Per layer of stories260K: q 64x64, k and v 32x64, o 64x64, gate and up 172x64, down 64x172 = 45,312
        // projection weights in 600 rows; the two norms (128) stay f32.
        var layer = sourceInfo.Units[1];
        Assert.Equal((45_312L, 600L), (layer.QuantizableParameters, layer.QuantizableRows));
        Assert.Equal(45_440L, layer.Parameters);
        long int8Layer = (128 * 4) + 45_312 + (600 * 4);
        var all = UnitRange.Whole(5);
        long embedding = 512 * 64 * 4, head = (512 * 64 * 4) + (64 * 4);
        Assert.Equal(embedding + (5 * int8Layer) + head, sourceInfo.Estimate(ScalarType.Float32, weights: WeightFormat.Int8AbsmaxPerChannel).WeightBytes);
        Assert.Equal(sourceInfo.Estimate(ScalarType.Float32, weights: WeightFormat.Int8AbsmaxPerChannel).WeightBytes, int8Info.Estimate(ScalarType.Float32).WeightBytes);
        Assert.Equal(sourceInfo.Estimate(ScalarType.Float32).WeightBytes, int8Info.Estimate(ScalarType.Float32, weights: WeightFormat.Source).WeightBytes);
        Assert.Equal((2 * 128) + 45_312 + (600 * 4), int8Info.Estimate(ScalarType.BFloat16, range: new UnitRange(2, 3)).WeightBytes);
        Assert.Equal(all, int8Info.Estimate(ScalarType.Float32).Range);

        // The stored bytes (what placement plans with) include the scales and match the unit files' tensor data.
        foreach (var u in int8Info.Units)
        {
            Assert.Equal(store.Unit(u.Index).Tensors.Sum(t => t.Length), u.TensorBytes);
            Assert.Equal(store.Unit(u.Index).Tensors.Count, u.Tensors);
        }

        string sourceText = sourceInfo.ToText(ScalarType.BFloat16);
        Assert.Contains("weights source", sourceText);
        Assert.Contains("memory at bf16 with int8 weights (convert --weights int8): weights", sourceText);
        string int8Text = int8Info.ToText(ScalarType.BFloat16);
        Assert.Contains("weights int8-absmax-per-channel", int8Text);
        Assert.Contains("memory at bf16 with int8-absmax-per-channel weights: weights", int8Text);
        Assert.DoesNotContain("convert --weights int8", int8Text);
    }

    public void Dispose() => _dir.Dispose();
}
