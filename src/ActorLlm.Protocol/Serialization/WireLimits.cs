using Akka.Configuration;

namespace ActorLlm.Protocol.Serialization;

/// <summary>
/// Bounds on what a message from the network may carry. Anything larger is rejected as it is deserialized.
/// Read from <c>actorllm.wire</c> in the actor system's config (reference.conf documents each).
/// </summary>
public sealed record WireLimits(long MaxPayloadBytes, int MaxPromptBytes, int MaxTokensPerStep, int MaxChunkBytes, int MaxChoices)
{
    /// <summary>
    /// reference.conf's values, for actor systems built without ActorLlm's configuration (the serializer in a test's
    /// or a tool's system; this assembly cannot read reference.conf, which lives with the cluster). A test pins
    /// this to reference.conf.
    /// </summary>
    public static WireLimits Default { get; } = new(
        MaxPayloadBytes: 6L * 1024 * 1024,
        MaxPromptBytes: 1024 * 1024,
        MaxTokensPerStep: 32768,
        MaxChunkBytes: 4 * 1024 * 1024,
        MaxChoices: 256);

    /// <summary>
    /// The limits of an <c>actorllm.wire</c> section; <see cref="Default"/> when there is none. A section that
    /// is there must have every key: a missing one is refused with its name, never filled in.
    /// </summary>
    public static WireLimits From(Config? config)
    {
        if (config is null || config.IsEmpty)
        {
            return Default;
        }

        string Need(string path) =>
            config.HasPath(path) ? path : throw new ConfigurationException($"actorllm.wire.{path} is missing");
        long Bytes(string path) =>
            config.GetByteSize(Need(path)) ?? throw new ConfigurationException($"actorllm.wire.{path} is not a size");
        int IntBytes(string path)
        {
            long bytes = Bytes(path);
            return bytes <= int.MaxValue ? (int)bytes : throw new ConfigurationException($"actorllm.wire.{path} is {bytes} bytes, more than {int.MaxValue}");
        }

        return new WireLimits(
            Bytes("max-payload-bytes"),
            IntBytes("max-prompt-bytes"),
            config.GetInt(Need("max-tokens-per-step")),
            IntBytes("max-chunk-bytes"),
            config.GetInt(Need("max-choices")));
    }
}
