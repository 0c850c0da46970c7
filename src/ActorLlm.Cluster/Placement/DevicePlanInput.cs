using ActorLlm.Protocol;

namespace ActorLlm.Cluster.Placement;

/// <summary>
/// What the planner knows about one device.
/// </summary>
/// <param name="Id">The device.</param>
/// <param name="Machine">The physical host; replicas of a unit are only placed on distinct machines,
/// since two devices of one host fail together.</param>
/// <param name="MemoryBytes">Device memory; the planner fills only <see cref="PlannerOptions.MemoryHeadroom"/> of it with weights.</param>
/// <param name="Speed">Measured throughput: layer-forwards per second (a layer's cost is 1.0, so cost / speed is
/// seconds per token); must be finite and positive.</param>
/// <param name="PinnableBytes">Host memory the device may pin for layers streamed to it (0: it streams nothing).</param>
/// <param name="HostToDeviceBytesPerSecond">Measured host-to-device copy bandwidth from pinned memory (0: unknown, it
/// streams nothing). A streamed layer costs max(compute, bytes / bandwidth).</param>
/// <param name="Volunteer">A volunteer's device: where capacity allows, one replica group is kept free of them, so every
/// unit a volunteer serves also has a trusted replica (which verification audits with).</param>
public sealed record DevicePlanInput(DeviceKey Id, string Machine, long MemoryBytes, double Speed, long PinnableBytes = 0, double HostToDeviceBytesPerSecond = 0, bool Volunteer = false)
{
    /// <summary>Whether the device reported what streaming needs: host memory to pin and a bandwidth.</summary>
    public bool CanStream => PinnableBytes > 0 && HostToDeviceBytesPerSecond > 0;
}
