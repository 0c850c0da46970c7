using ActorLlm.Protocol;

namespace ActorLlm.Inference.Sampling;

/// <summary>
/// How the next token is chosen from the logits, applied in transformers' order: repetition penalty,
/// temperature, top-k, top-p. Temperature 0 (or top-k 1) is greedy. Sampling is a pure function of the logits,
/// the seed and the token's position, so replaying a job (after a failover) draws the same tokens.
/// </summary>
public sealed record SamplingParams
{
    /// <summary>0 = greedy (argmax).</summary>
    public float Temperature { get; init; }

    /// <summary>Keep only the K most likely tokens; 0 = no limit.</summary>
    public int TopK { get; init; }

    /// <summary>Keep the smallest set of most likely tokens whose probability reaches P; 1 = no limit.</summary>
    public float TopP { get; init; } = 1f;

    /// <summary>Divide positive (multiply negative) logits of tokens already in the sequence; 1 = off.</summary>
    public float RepetitionPenalty { get; init; } = 1f;

    public ulong Seed { get; init; }

    public static SamplingParams Greedy { get; } = new();

    public bool IsGreedy => Temperature <= 0f || TopK == 1;

    /// <summary>Throws <see cref="InvalidRequestException"/> for values outside their domain.</summary>
    public SamplingParams Validate() =>
        SamplingRules.Problem(Temperature, TopK, TopP, RepetitionPenalty) is string problem ? throw new InvalidRequestException(problem) : this;
}
