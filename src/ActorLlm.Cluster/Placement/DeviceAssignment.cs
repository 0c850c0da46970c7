using ActorLlm.Protocol;

namespace ActorLlm.Cluster.Placement;

/// <summary>
/// One device's part in a plan: it serves <paramref name="Range"/> within replica group <paramref name="Group"/>.
/// The devices of one group together serve each unit at most once; groups use disjoint sets of machines.
/// <paramref name="StreamedLayers"/> of its range's layers (the last ones) are streamed from host memory, the rest are
/// resident (see <see cref="ActorLlm.Inference.Execution.StreamLayout"/>); 0 for a wholly resident stage.
/// </summary>
public sealed record DeviceAssignment(DeviceKey Device, int Group, UnitRange Range, int StreamedLayers = 0);

/// <summary>Units a device must newly load to go from one plan to the next: what a re-plan costs.</summary>
public sealed record UnitLoad(DeviceKey Device, UnitRange Units);
