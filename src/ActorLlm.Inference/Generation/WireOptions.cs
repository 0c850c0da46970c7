using ActorLlm.Inference.Sampling;
using ActorLlm.Protocol.Messages;

namespace ActorLlm.Inference.Generation;

/// <summary>
/// Generation options between their wire form (Protocol, no inference types) and the inference core's: the one
/// mapping, used by the CLI, the session, the last stage and the tests.
/// </summary>
public static class WireOptions
{
    /// <summary>
    /// The mapping alone, not validated: a job's options are validated once, where the job enters
    /// (<see cref="ToOptions"/>), and a step's sampling on arrival from the network (WireValidation), not per token.
    /// </summary>
    public static SamplingParams ToSampling(WireSampling s) => new()
    {
        Temperature = s.Temperature,
        TopK = s.TopK,
        TopP = s.TopP,
        RepetitionPenalty = s.RepetitionPenalty,
        Seed = s.Seed,
    };

    public static WireSampling ToWire(SamplingParams p) => new(p.Temperature, p.TopK, p.TopP, p.RepetitionPenalty, p.Seed);

    /// <summary>Validated: out-of-range values are an InvalidRequestException.</summary>
    public static GenerationOptions ToOptions(WireGenerationOptions o) => new GenerationOptions
    {
        MaxTokens = o.MaxTokens,
        Sampling = ToSampling(o.Sampling),
        StopStrings = o.StopStrings,
        StopAtEos = o.StopAtEos,
    }.Validate();

    public static WireGenerationOptions ToWire(GenerationOptions o) => new(o.MaxTokens, ToWire(o.Sampling), [.. o.StopStrings], o.StopAtEos);
}
