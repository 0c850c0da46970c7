using System.Runtime.InteropServices;
using ActorLlm.Cluster.Weights;
using ActorLlm.Inference.Checkpoints;
using ActorLlm.Inference.Devices;
using ActorLlm.Inference.Execution;
using ActorLlm.Inference.Sampling;
using ActorLlm.Inference.Tokenization;
using ActorLlm.Protocol;
using TorchSharp;

namespace ActorLlm.Cluster.Tests.Actors;

/// <summary>
/// stories260K (5 layers, so 7 units: begin, layer.0..4, end; hidden 64; vocabulary 512) converted once per test
/// class into a full unit store, with its tokenizer and model id. Tests only read it; a test that needs a store with
/// units missing makes a partial copy.
/// </summary>
public sealed class StoriesModel : IDisposable
{
    private readonly TempDir _dir = new();
    private readonly List<UnitStore> _copies = [];

    public StoriesModel()
    {
        Store = TestModels.ConvertStories(_dir["full"]);
        ModelId = ModelIdentity.Of(Store.Manifest);
        Tokenizer = TextTokenizer.Load(TestModels.Stories260K);
    }

    /// <summary>A prompt of the model's own tokens (BOS first), from the inference core's executor tests.</summary>
    public static int[] Prompt { get; } = [1, 403, 407, 261, 378, 432, 383, 286, 261, 400, 428];

    public const int Layers = 5;

    public const int Units = Layers + 2;

    public const int Hidden = 64;

    public const int Vocab = 512;

    public static UnitRange Whole { get; } = UnitRange.Whole(Layers);

    public UnitStore Store { get; }

    public ModelId ModelId { get; }

    public TextTokenizer Tokenizer { get; }

    /// <summary>A store of the same model holding only <paramref name="units"/> (copied from the full one); disposed with the fixture.</summary>
    public UnitStore PartialCopy(params int[] units)
    {
        var copy = TestModels.EmptyCopy(Store, _dir[$"partial-{Guid.NewGuid():N}"]);
        lock (_copies)
        {
            _copies.Add(copy);
        }

        foreach (int unit in units)
        {
            string temp = Path.Combine(copy.Directory, $"unit-{unit}.incoming");
            File.Copy(Store.UnitPath(unit), temp);
            copy.InstallUnit(unit, temp);
        }

        return copy;
    }

    /// <summary>An executor of <paramref name="range"/> in this process: the reference the actors' answers are compared with.</summary>
    public static StageExecutor Reference(UnitRange range)
    {
        // The executor copies the weights it needs; the checkpoint is not needed after the load.
        using var source = HfCheckpoint.Open(TestModels.Stories260K);
        return StageExecutor.Load(source, range, ComputeTarget.Cpu, new KvCacheOptions(8, 256));
    }

    /// <summary>Runs <paramref name="ids"/> through <paramref name="stage"/> (which holds begin) and returns its hidden states as a wire payload.</summary>
    public static TensorPayload HiddenOf(StageExecutor stage, SessionId session, int start, int[] ids)
    {
        using var output = stage.Forward([new StageInput(session, start, ids)])[0];
        return TensorCodec.ToPayload(output.Hidden!, torch.ScalarType.Float32);
    }

    /// <summary>The greedy next token after <paramref name="ids"/> at <paramref name="start"/> on a whole-model executor.</summary>
    public static int GreedyNext(StageExecutor whole, SessionId session, int start, int[] ids)
    {
        using var output = whole.Forward([new StageInput(session, start, ids)])[0];
        return Sampler.Sample(output.Logits!, SamplingParams.Greedy, [], start + ids.Length);
    }

    /// <summary>All positions' logits of <paramref name="ids"/> from position 0 (for scoring references).</summary>
    public static double LogProbability(StageExecutor whole, int[] ids, int choiceStart)
    {
        using var output = whole.Forward([new StageInput(SessionId.New(), 0, ids, AllLogits: true)])[0];
        return Inference.Generation.ChoiceScoring.LogProbability(output.Logits!, ids, choiceStart);
    }

    public static float[] Floats(TensorPayload payload) => MemoryMarshal.Cast<byte, float>(payload.Data).ToArray();

    /// <summary>A payload of <paramref name="rows"/> x <paramref name="width"/> float32 values, all <paramref name="value"/>.</summary>
    public static TensorPayload Payload(int rows, int width, float value = 0.1f) =>
        new(DType.F32, [rows, width], MemoryMarshal.AsBytes(Enumerable.Repeat(value, rows * width).ToArray().AsSpan()).ToArray());

    public void Dispose()
    {
        _copies.ForEach(c => c.Dispose());
        Store.Dispose();
        _dir.Dispose();
    }
}
