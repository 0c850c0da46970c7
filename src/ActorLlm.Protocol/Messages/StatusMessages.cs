using MessagePack;

namespace ActorLlm.Protocol.Messages;

/// <summary>One cluster member as the status shows it.</summary>
[MessagePackObject]
public sealed record MemberInfo(
    [property: Key(0)] NodeAddress Address,
    [property: Key(1)] string Status,
    [property: Key(2)] string[] Roles,
    [property: Key(3)] bool Reachable);

/// <summary>One registered device, its assignment and load.</summary>
/// <param name="Quarantined">Why the device gets no work (verification caught it computing wrong results), or null.</param>
[MessagePackObject]
public sealed record DeviceStatus(
    [property: Key(0)] DeviceDescriptor Device,
    [property: Key(1)] UnitRange? Assigned,
    [property: Key(2)] UnitRange? Serving,
    [property: Key(3)] int ActiveSessions,
    [property: Key(4)] int Queued,
    [property: Key(5)] double TokensPerSecond,
    [property: Key(6)] int ReplicaGroup,
    [property: Key(7)] int StreamedLayers = 0,
    [property: Key(8)] string? Quarantined = null)
{
    /// <summary>The units of the served (else assigned) range whose layers are streamed from host memory, or null when none are.</summary>
    public UnitRange? StreamedUnits(int layers)
    {
        if (StreamedLayers <= 0 || (Serving ?? Assigned) is not { } range)
        {
            return null;
        }

        int lastLayer = Math.Min(range.End, layers + 1) - 1;
        return new UnitRange(lastLayer - StreamedLayers + 1, lastLayer + 1);
    }
}

/// <summary>Asking the pool how it is.</summary>
public static class StatusMessages
{
    /// <summary>Client → PlacementCoordinator: reply with <see cref="ClusterStatus"/>.</summary>
    [MessagePackObject]
    public sealed record GetClusterStatus : IActorLlmMessage;

    /// <summary>PlacementCoordinator → client: members, devices, unit ranges, replicas, route version, load.</summary>
    [MessagePackObject]
    public sealed record ClusterStatus(
        [property: Key(0)] MemberInfo[] Members,
        [property: Key(1)] DeviceStatus[] Devices,
        [property: Key(2)] long RouteVersion,
        [property: Key(3)] int UnitCount,
        [property: Key(4)] int Layers,
        [property: Key(5)] int RedundancyRequested,
        [property: Key(6)] int RedundancyAchieved,
        [property: Key(7)] PlacementStatus PlacementStatus,
        [property: Key(8)] bool Loading,
        [property: Key(9)] string[] Notes) : IActorLlmMessage
    {
        /// <summary>The plan covers the model and every device serves what it was assigned (nothing still loading).</summary>
        public bool ServesPlan() => PlacementStatus.CoversModel() && Devices.All(d => d.Assigned is null || d.Serving == d.Assigned);
    }
}
