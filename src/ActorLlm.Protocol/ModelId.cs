using MessagePack;

namespace ActorLlm.Protocol;

/// <summary>
/// "This exact model": a short hash of the architecture and every unit's bytes (see ModelIdentity in the cluster).
/// Two stores with the same id serve interchangeable units.
/// </summary>
[MessagePackObject]
public readonly record struct ModelId([property: Key(0)] string Value)
{
    public override string ToString() => Value;
}
