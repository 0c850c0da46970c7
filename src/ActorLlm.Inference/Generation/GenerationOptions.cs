using ActorLlm.Protocol;
using ActorLlm.Inference.Sampling;

namespace ActorLlm.Inference.Generation;

/// <summary>What a generation job asks for besides its prompt.</summary>
public sealed record GenerationOptions
{
    public int MaxTokens { get; init; } = 256;

    public SamplingParams Sampling { get; init; } = SamplingParams.Greedy;

    /// <summary>Generation ends before the first occurrence of any of these (which is not emitted).</summary>
    public IReadOnlyList<string> StopStrings { get; init; } = [];

    /// <summary>End when the model emits an end-of-sequence token.</summary>
    public bool StopAtEos { get; init; } = true;

    public GenerationOptions Validate()
    {
        if (MaxTokens < 0)
        {
            throw new InvalidRequestException($"max tokens must be >= 0, got {MaxTokens}");
        }

        Sampling.Validate();
        return this;
    }
}

/// <summary>A finished generation.</summary>
public sealed record GenerationResult(
    string Text,
    int[] PromptIds,
    int[] GeneratedIds,
    FinishReason Finish,
    TimeSpan Prefill,
    TimeSpan Decode)
{
    /// <summary>Decode speed: tokens after the first per second of decode time.</summary>
    public double DecodeTokensPerSecond => GeneratedIds.Length > 1 && Decode > TimeSpan.Zero ? (GeneratedIds.Length - 1) / Decode.TotalSeconds : 0;
}
