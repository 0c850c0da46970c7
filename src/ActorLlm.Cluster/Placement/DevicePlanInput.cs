using ActorLlm.Protocol;

namespace ActorLlm.Cluster.Placement;

/// <summary>
/// What the planner knows about one device.
/// </summary>
/// <param name="Id">The device.</param>
/// <param name="Machine">The physical host; replicas of a unit are only placed on distinct machines,
/// since two devices of one host fail together.</param>
/// <param name="MemoryBytes">Device memory; the planner fills only <see cref="PlannerOptions.MemoryHeadroom"/> of it with weights.</param>
/// <param name="Speed">Measured throughput, relative (e.g. layer-forwards per second); must be finite and positive.</param>
public sealed record DevicePlanInput(DeviceKey Id, string Machine, long MemoryBytes, double Speed);
