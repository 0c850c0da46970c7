using ActorLlm.Protocol;
using ActorLlm.Protocol.Messages;
using Akka.Cluster;

namespace ActorLlm.Cluster.Placement.Internal;

/// <summary>Assembles the status reply from the coordinator's state and the cluster membership.</summary>
internal static class ClusterStatusView
{
    public static StatusMessages.ClusterStatus Build(
        ClusterEvent.CurrentClusterState state,
        DeviceRegistry registry,
        PlacementPlan? plan,
        PlacementMessages.RouteTable routes,
        int redundancy,
        ModelUnits model,
        Func<RegisteredDevice, UnitRange, int> streamed)
    {
        var members = state.Members
            .OrderBy(m => m.Address.ToString())
            .Select(m => new MemberInfo(NodeAddress.Of(m.Address), m.Status.ToString(), [.. m.Roles.Order()], !state.Unreachable.Contains(m)))
            .ToArray();
        var devices = registry.All.Select(d =>
        {
            var assignment = plan?.AssignmentOf(d.Key);
            UnitRange? serving = d.Serving.Count == 0 ? null : d.Serving.OrderBy(s => s == assignment?.Range ? 0 : 1).First();
            int streamedLayers = (serving ?? assignment?.Range) is { } shown ? streamed(d, shown) : 0;
            return new DeviceStatus(d.Descriptor, assignment?.Range, serving, d.ActiveSessions, d.Queued, d.TokensPerSecond, assignment?.Group ?? -1, streamedLayers, d.Quarantined);
        }).ToArray();
        var notes = new List<string>();
        if (plan is not null)
        {
            notes.AddRange(plan.Reasons);
        }

        notes.AddRange(registry.All.Where(d => d.FailedReason is not null).Select(d => $"{d.Descriptor.Label} sits out: {d.FailedReason}"));
        notes.AddRange(registry.All.Where(d => d.Quarantined is not null).Select(d => $"{d.Descriptor.Label} is quarantined: {d.Quarantined}"));
        notes.AddRange(registry.All.Where(d => !d.Reachable).Select(d => $"{d.Descriptor.Label} is unreachable"));
        return new StatusMessages.ClusterStatus(
            members,
            devices,
            routes.Version,
            model.UnitCount,
            model.Layers,
            redundancy,
            plan?.AchievedRedundancy ?? 0,
            routes.Status,
            routes.Loading,
            [.. notes]);
    }
}
