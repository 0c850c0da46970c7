using MessagePack;

namespace ActorLlm.Protocol;

/// <summary>
/// A node of the pool: its cluster address as Akka prints it, e.g. "akka.tcp://actorllm@127.0.0.1:4050".
/// Equal addresses are the same node (a restarted process on the same port is a new incarnation, which the
/// cluster, not this type, tells apart).
/// </summary>
[MessagePackObject]
public readonly record struct NodeAddress([property: Key(0)] string Value) : IComparable<NodeAddress>
{
    public static NodeAddress Of(Akka.Actor.Address address) => new(address.ToString());

    public int CompareTo(NodeAddress other) => string.CompareOrdinal(Value, other.Value);

    public override string ToString() => Value;
}
