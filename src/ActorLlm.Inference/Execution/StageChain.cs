namespace ActorLlm.Inference.Execution;

/// <summary>
/// Stages run one after another in this process (the cluster does the same across processes): each stage's hidden
/// states are the next stage's input.
/// </summary>
public static class StageChain
{
    /// <summary>
    /// Runs <paramref name="inputs"/> (token ids, positions, logits wanted; no hidden states) through
    /// <paramref name="stages"/> and returns the last stage's outputs, which the caller owns.
    /// </summary>
    public static IReadOnlyList<StageOutput> Forward(IReadOnlyList<StageExecutor> stages, IReadOnlyList<StageInput> inputs)
    {
        IReadOnlyList<StageOutput>? previous = null;
        foreach (var stage in stages)
        {
            var outputs = stage.Forward(previous is null ? inputs : inputs.Select((input, i) => input with { Hidden = previous[i].Hidden }).ToArray());
            foreach (var o in previous ?? [])
            {
                o.Dispose();
            }

            previous = outputs;
        }

        return previous!;
    }
}
