using MessagePack;

namespace ActorLlm.Protocol;

/// <summary>
/// One device in the pool: the node it is on and the device there ("cpu", "cuda:0"). Its one text form is
/// "device@node", e.g. "cuda:0@akka.tcp://actorllm@10.0.0.5:4051". Ordered by node, then device (ordinal), which is
/// the planner's tie-break order.
/// </summary>
[MessagePackObject]
public readonly record struct DeviceKey([property: Key(0)] NodeAddress Node, [property: Key(1)] string Device) : IComparable<DeviceKey>
{
    public int CompareTo(DeviceKey other)
    {
        int byNode = Node.CompareTo(other.Node);
        return byNode != 0 ? byNode : string.CompareOrdinal(Device, other.Device);
    }

    public static bool operator <(DeviceKey left, DeviceKey right) => left.CompareTo(right) < 0;

    public static bool operator >(DeviceKey left, DeviceKey right) => left.CompareTo(right) > 0;

    public static bool operator <=(DeviceKey left, DeviceKey right) => left.CompareTo(right) <= 0;

    public static bool operator >=(DeviceKey left, DeviceKey right) => left.CompareTo(right) >= 0;

    public override string ToString() => $"{Device}@{Node}";
}
