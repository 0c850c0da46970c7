using ActorLlm.Inference.Checkpoints;
using ActorLlm.Inference.Devices;
using ActorLlm.Inference.Execution;
using ActorLlm.Protocol;
using Xunit;
using static TorchSharp.torch;

namespace ActorLlm.Inference.Tests.Conformance;

/// <summary>
/// The model against Hugging Face transformers' own outputs for tests/fixtures/hf-llama-tiny (f32, CPU):
/// logits and every hidden state within 1e-4, greedy continuation identical.
/// </summary>
public sealed class HfLlamaTinyTests : IDisposable
{
    private const double Tolerance = 1e-4;
    private readonly HfCheckpoint _checkpoint = HfCheckpoint.Open(RepoPaths.HfLlamaTiny);
    private readonly IReadOnlyList<GoldenCase> _cases = Golden.Load(RepoPaths.HfLlamaTiny);

    private int Layers => _checkpoint.Config.NumLayers;

    [Fact]
    public void Logits_match_transformers()
    {
        using var stage = StageExecutor.Load(_checkpoint, UnitRange.Whole(Layers), ComputeTarget.Cpu);
        foreach (var c in _cases)
        {
            var session = SessionId.New();
            using var output = stage.Forward([new StageInput(session, 0, c.PromptIds, AllLogits: true)])[0];
            TensorAssert.Close(c.Logits, TensorAssert.Rows(output.Logits!), Tolerance, $"logits for {c.PromptIds.Length} tokens");
            stage.Release(session);
        }
    }

    [Fact]
    public void Every_hidden_state_matches_transformers_through_a_chain_of_single_unit_stages()
    {
        // begin alone, then each layer alone: stage i's output is transformers' hidden_states[i].
        var stages = Enumerable.Range(0, Layers + 2)
            .Select(u => StageExecutor.Load(_checkpoint, new UnitRange(u, u + 1), ComputeTarget.Cpu))
            .ToArray();
        try
        {
            foreach (var c in _cases)
            {
                var session = SessionId.New();
                Tensor? hidden = null;
                for (int u = 0; u <= Layers; u++)
                {
                    using var output = stages[u].Forward([new StageInput(session, 0, c.PromptIds, hidden)])[0];
                    hidden?.Dispose();
                    hidden = output.Hidden!.clone();
                    if (u < Layers)
                    {
                        TensorAssert.Close(c.HiddenStates[u], TensorAssert.Rows(hidden), Tolerance, $"hidden state {u}");
                    }
                }

                // transformers reports the last hidden state after the final norm.
                using var normed = stages[Layers + 1].FinalNorm(hidden!);
                TensorAssert.Close(c.HiddenStates[Layers], TensorAssert.Rows(normed), Tolerance, "final normed hidden state");
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

    [Fact]
    public void Greedy_continuation_with_the_kv_cache_is_identical()
    {
        using var stage = StageExecutor.Load(_checkpoint, UnitRange.Whole(Layers), ComputeTarget.Cpu);
        foreach (var c in _cases)
        {
            var session = SessionId.New();
            var generated = new List<int>();
            int[] next = c.PromptIds;
            int position = 0;
            while (generated.Count < c.GreedyNewIds.Length)
            {
                using var output = stage.Forward([new StageInput(session, position, next)])[0];
                position += next.Length;
                using var argmax = output.Logits!.argmax(-1);
                int token = (int)argmax.item<long>();
                generated.Add(token);
                next = [token];
            }

            Assert.Equal(c.GreedyNewIds, generated);
            stage.Release(session);
        }
    }

    public void Dispose() => _checkpoint.Dispose();
}
