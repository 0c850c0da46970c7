using ActorLlm.Inference.Checkpoints;
using ActorLlm.Inference.Config;
using ActorLlm.Inference.Devices;
using ActorLlm.Inference.Execution;
using ActorLlm.Protocol;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace ActorLlm.Inference.Tests.Checkpoints;

public class RandomWeightSourceTests
{
    private static readonly int[] s_prompt = [1, 403, 407, 261, 378];
    private static readonly ModelConfig s_stories = ModelConfig.Load(RepoPaths.Stories260K);

    [Theory]
    [MemberData(nameof(TestModels.All), MemberType = typeof(TestModels))]
    public void Every_tensor_of_every_unit_is_there_with_its_expected_shape(string model)
    {
        var config = ModelConfig.Load(TestModels.PathOf(model));
        using var source = new RandomWeightSource(config);
        var required = Enumerable.Range(0, config.UnitCount).SelectMany(u => UnitTensors.Required(config, u, source.Contains)).ToHashSet();
        Assert.Equal(required.Order(), source.TensorNames.Order());
        foreach (string name in required)
        {
            long[] expected = UnitTensors.ExpectedShape(config, name)!;
            Assert.Equal(expected, source.Describe(name).Shape);
            Assert.Equal(SafetensorsDType.F32, source.Describe(name).DType);
            using var t = source.Load(name);
            Assert.Equal(expected, t.shape);
            Assert.Equal(ScalarType.Float32, t.dtype);
            Assert.Equal(DeviceType.CPU, t.device_type);
        }

        Assert.Equal(!config.TieWordEmbeddings, source.Contains(UnitTensors.LmHead));
        Assert.Equal(required.Sum(n => source.Describe(n).Length), source.BytesRead);
    }

    [Fact]
    public void Norms_are_ones_and_the_rest_is_small_noise()
    {
        using var scope = NewDisposeScope();
        using var source = new RandomWeightSource(s_stories, std: 0.02);
        using var norm = source.Load("model.layers.0.input_layernorm.weight");
        using var finalNorm = source.Load(UnitTensors.FinalNorm);
        Assert.True(norm.eq(1).all().item<bool>());
        Assert.True(finalNorm.eq(1).all().item<bool>());

        using var embedding = source.Load(UnitTensors.Embedding);                 // 512 x 64 values
        Assert.InRange(embedding.std().item<float>(), 0.019, 0.021);
        Assert.InRange(embedding.mean().item<float>(), -0.001, 0.001);
    }

    [Fact]
    public void A_tensor_depends_on_seed_and_name_only()
    {
        const string Name = "model.layers.2.mlp.up_proj.weight";
        using var a = new RandomWeightSource(s_stories, seed: 7);
        using var b = new RandomWeightSource(s_stories, seed: 7);
        using var c = new RandomWeightSource(s_stories, seed: 8);
        a.Load(UnitTensors.Embedding).Dispose();                                  // order of loads does not matter
        using var first = a.Load(Name);
        using var same = b.Load(Name);
        using var otherSeed = c.Load(Name);
        using var otherName = a.Load("model.layers.3.mlp.up_proj.weight");
        Assert.Equal(Values(first), Values(same));
        Assert.NotEqual(Values(first), Values(otherSeed));
        Assert.NotEqual(Values(first), Values(otherName));
    }

    private static float[] Values(Tensor t) => t.data<float>().ToArray();

    [Fact]
    public void A_stage_of_one_layer_runs_a_forward()
    {
        using var scope = NewDisposeScope();
        using var source = new RandomWeightSource(s_stories);
        using var stage = StageExecutor.Load(source, new UnitRange(1, 2), ComputeTarget.Cpu);
        using var hidden = randn(s_prompt.Length, s_stories.HiddenSize);
        var session = SessionId.New();
        using var prefill = stage.Forward([new StageInput(session, 0, s_prompt, hidden)])[0];
        Assert.Equal([s_prompt.Length, s_stories.HiddenSize], prefill.Hidden!.shape);
        Assert.True(prefill.Hidden.isfinite().all().item<bool>());

        using var one = randn(1, s_stories.HiddenSize);
        using var step = stage.Forward([new StageInput(session, s_prompt.Length, [5], one)])[0];
        Assert.Equal([1, s_stories.HiddenSize], step.Hidden!.shape);
        Assert.Equal(s_prompt.Length + 1, stage.Length(session));
    }

    [Fact]
    public void Stages_built_apart_from_one_seed_chain_to_the_logits_of_the_whole()
    {
        int units = s_stories.UnitCount;
        using var source = new RandomWeightSource(s_stories, seed: 3);
        using var whole = StageExecutor.Load(source, new UnitRange(0, units), ComputeTarget.Cpu);
        using var expected = whole.Forward([new StageInput(SessionId.New(), 0, s_prompt)])[0];

        using var otherSource = new RandomWeightSource(s_stories, seed: 3);
        using var head = StageExecutor.Load(otherSource, new UnitRange(0, 3), ComputeTarget.Cpu);
        using var tail = StageExecutor.Load(source, new UnitRange(3, units), ComputeTarget.Cpu);
        var session = SessionId.New();
        using var h = head.Forward([new StageInput(session, 0, s_prompt)])[0];
        using var logits = tail.Forward([new StageInput(session, 0, s_prompt, h.Hidden)])[0];
        TensorAssert.Close(expected.Logits!, logits.Logits!, 1e-5, "split vs whole");
    }

    [Fact]
    public void Unknown_names_and_loads_after_dispose_are_refused()
    {
        var source = new RandomWeightSource(s_stories);
        Assert.Throws<ModelFormatException>(() => source.Load("model.layers.99.mlp.up_proj.weight"));
        Assert.Throws<ModelFormatException>(() => source.Describe("rotary_emb.inv_freq"));
        source.Dispose();
        source.Dispose();
        Assert.Throws<ObjectDisposedException>(() => source.Load(UnitTensors.Embedding));
    }
}
