namespace ActorLlm.Cluster.Placement;

/// <summary>
/// One device in the pool: the node's address and the device on it ("cpu", "cuda:0").
/// Ordered by node, then device (ordinal), which is the planner's tie-break order.
/// </summary>
public readonly record struct DeviceKey(string Node, string Device) : IComparable<DeviceKey>
{
    public int CompareTo(DeviceKey other)
    {
        int byNode = string.CompareOrdinal(Node, other.Node);
        return byNode != 0 ? byNode : string.CompareOrdinal(Device, other.Device);
    }

    public static bool operator <(DeviceKey left, DeviceKey right) => left.CompareTo(right) < 0;

    public static bool operator >(DeviceKey left, DeviceKey right) => left.CompareTo(right) > 0;

    public static bool operator <=(DeviceKey left, DeviceKey right) => left.CompareTo(right) <= 0;

    public static bool operator >=(DeviceKey left, DeviceKey right) => left.CompareTo(right) >= 0;

    public override string ToString() => $"{Device}@{Node}";
}
