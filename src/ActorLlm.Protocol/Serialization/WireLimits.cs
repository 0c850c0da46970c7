using Akka.Configuration;

namespace ActorLlm.Protocol.Serialization;

/// <summary>
/// Bounds on what a message from the network may carry. Anything larger is rejected as it is deserialized.
/// Read from <c>actorllm.wire</c> in the actor system's config (reference.conf documents each).
/// </summary>
public sealed record WireLimits(long MaxPayloadBytes, int MaxPromptBytes, int MaxTokensPerStep, int MaxChunkBytes, int MaxChoices)
{
    public static WireLimits Default { get; } = new(
        MaxPayloadBytes: 6L * 1024 * 1024,
        MaxPromptBytes: 1024 * 1024,
        MaxTokensPerStep: 32768,
        MaxChunkBytes: 4 * 1024 * 1024,
        MaxChoices: 256);

    public static WireLimits From(Config? config)
    {
        if (config is null || config.IsEmpty)
        {
            return Default;
        }

        return new WireLimits(
            config.GetByteSize("max-payload-bytes", Default.MaxPayloadBytes) ?? Default.MaxPayloadBytes,
            (int)(config.GetByteSize("max-prompt-bytes", Default.MaxPromptBytes) ?? Default.MaxPromptBytes),
            config.GetInt("max-tokens-per-step", Default.MaxTokensPerStep),
            (int)(config.GetByteSize("max-chunk-bytes", Default.MaxChunkBytes) ?? Default.MaxChunkBytes),
            config.GetInt("max-choices", Default.MaxChoices));
    }
}
