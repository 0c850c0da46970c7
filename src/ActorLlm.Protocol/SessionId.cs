namespace ActorLlm.Protocol;

/// <summary>Identifies one generation job (and its KV cache entries on every stage it passes through).</summary>
public readonly record struct SessionId(string Value)
{
    public static SessionId New() => new(Guid.NewGuid().ToString("N"));

    public override string ToString() => Value;
}
