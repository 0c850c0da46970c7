using MessagePack;

namespace ActorLlm.Protocol;

/// <summary>Identifies one generation job (and its KV cache entries on every stage it passes through).</summary>
[MessagePackObject]
public readonly record struct SessionId([property: Key(0)] string Value)
{
    public static SessionId New() => new(Guid.NewGuid().ToString("N"));

    public override string ToString() => Value;
}
