using ActorLlm.Inference.Checkpoints;
using ActorLlm.Inference.Conformance;
using ActorLlm.Inference.Devices;
using ActorLlm.Inference.Execution;
using ActorLlm.Protocol;
using Xunit;
using static TorchSharp.torch;

namespace ActorLlm.Inference.Tests.Conformance;

/// <summary>
/// The model against Hugging Face transformers' own outputs (f32, CPU): logits and every hidden state within
/// 1e-4, greedy continuation identical. hf-llama-tiny came with the project; the others were written by
/// scripts/gpu/make_fixtures.py with transformers 5.17 and cover Llama 3 rope scaling with tied embeddings
/// (config in the transformers-4 spelling), Qwen2 biases, Mistral's sliding window, linear rope scaling with
/// bf16 sharded weights, and Llama biases with f16 weights.
/// </summary>
public sealed class HfConformanceTests
{
    private const double Tolerance = 1e-4;

    public static TheoryData<string> Fixtures =>
        ["hf-llama-tiny", "llama3-tied", "qwen2-bias", "mistral-window", "llama-linear-bf16-sharded", "llama-bias-f16"];

    private static (HfCheckpoint, IReadOnlyList<GoldenCase>) Open(string fixture)
    {
        string dir = Path.Combine(RepoPaths.FixturesDir, fixture);
        return (HfCheckpoint.Open(dir), Golden.Load(dir));
    }

    [Theory]
    [MemberData(nameof(Fixtures))]
    public void Logits_match_transformers_and_greedy_continuations_are_identical(string fixture)
    {
        var result = ConformanceCheck.Run(Path.Combine(RepoPaths.FixturesDir, fixture), ComputeTarget.Cpu);
        Assert.True(result.MaxLogitDiff <= Tolerance, $"{fixture}: max |logit difference| {result.MaxLogitDiff:E3} > {Tolerance:E1}");
        Assert.True(result.GreedyIdentical, $"{fixture}: greedy diverges at [{string.Join(", ", result.FirstDivergence)}]");
    }

    [Theory]
    [MemberData(nameof(Fixtures))]
    public void Every_hidden_state_matches_transformers_through_a_chain_of_single_unit_stages(string fixture)
    {
        var (checkpoint, cases) = Open(fixture);
        using var _ = checkpoint;
        int layers = checkpoint.Config.NumLayers;

        // begin alone, then each layer alone: stage i's output is transformers' hidden_states[i].
        var stages = Enumerable.Range(0, layers + 2)
            .Select(u => StageExecutor.Load(checkpoint, new UnitRange(u, u + 1), ComputeTarget.Cpu))
            .ToArray();
        try
        {
            foreach (var c in cases)
            {
                var session = SessionId.New();
                Tensor? hidden = null;
                for (int u = 0; u <= layers; u++)
                {
                    using var output = stages[u].Forward([new StageInput(session, 0, c.PromptIds, hidden)])[0];
                    hidden?.Dispose();
                    hidden = output.Hidden!.clone();
                    if (u < layers)
                    {
                        TensorAssert.Close(c.HiddenStates[u], TensorAssert.Rows(hidden), Tolerance, $"hidden state {u}");
                    }
                }

                // transformers reports the last hidden state after the final norm.
                using var normed = stages[layers + 1].FinalNorm(hidden!);
                TensorAssert.Close(c.HiddenStates[layers], TensorAssert.Rows(normed), Tolerance, "final normed hidden state");
                hidden!.Dispose();
            }
        }
        finally
        {
            foreach (var s in stages)
            {
                s.Dispose();
            }
        }
    }
}
