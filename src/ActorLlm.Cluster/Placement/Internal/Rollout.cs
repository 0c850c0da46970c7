using ActorLlm.Protocol;

namespace ActorLlm.Cluster.Placement.Internal;

/// <summary>
/// Make-before-break for one plan version: which devices still have to load their new range. Old ranges are
/// released only when every device of the plan serves its new one, so at every moment the loaded ranges (old and
/// new together) cover what the old plan covered.
/// </summary>
internal sealed class Rollout(long version, PlacementPlan plan, DateTime started)
{
    private readonly HashSet<DeviceKey> _waiting = [];

    public long Version { get; } = version;

    public PlacementPlan Plan { get; } = plan;

    public DateTime Started { get; } = started;

    public IReadOnlyCollection<DeviceKey> Waiting => _waiting;

    public bool Complete => _waiting.Count == 0;

    public void Expect(DeviceKey device) => _waiting.Add(device);

    public bool Loaded(DeviceKey device, UnitRange range) =>
        Plan.AssignmentOf(device)?.Range == range && _waiting.Remove(device);

    /// <summary>A device left or failed: it no longer holds the rollout up (the next plan deals with its units).</summary>
    public void Drop(DeviceKey device) => _waiting.Remove(device);

    /// <summary>The range <paramref name="device"/> should end up serving, if any.</summary>
    public UnitRange? Target(DeviceKey device) => Plan.AssignmentOf(device)?.Range;
}
