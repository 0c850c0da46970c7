using ActorLlm.Cluster.Hosting;
using ActorLlm.Protocol;
using ActorLlm.Protocol.Messages;
using Akka.Actor;

namespace ActorLlm.Cluster.Session;

/// <summary>
/// One per gateway, beside the session shard region (only gateways host sessions): keeps the newest route table the
/// PlacementCoordinator published, picks routes for this gateway's sessions (least loaded, counting the jobs this
/// gateway has routed), and tells them when a node they use is suspected dead (unreachable, or its connection
/// dropped), so they fail over without waiting for a timeout. Local messages only.
/// </summary>
public static class RouteCache
{
    /// <param name="settings">How long a suspicion lasts, how often to ask for the table (<c>actorllm.route-cache</c>).</param>
    /// <param name="coordinator">The PlacementCoordinator singleton proxy (asked for the table until one is published).</param>
    /// <param name="mediator">The distributed pub-sub mediator (subscribed to the routes topic); null to skip (tests).</param>
    public static Props Props(RouteCacheSettings settings, IActorRef coordinator, IActorRef? mediator)
    {
        ArgumentNullException.ThrowIfNull(settings);
        return Akka.Actor.Props.Create(() => new Internal.RouteCacheActor(settings, coordinator, mediator));
    }

    /// <summary>
    /// Session → RouteCache: a route covering the whole model, avoiding the <paramref name="Excluded"/> device keys when
    /// any route does (a device that failed a step may have been the victim of a slow or stale moment rather than the
    /// cause, and with one replica per range it is still the only way to serve the job). Answered with
    /// <see cref="Selected"/> as soon as a route exists (at once, or when a table that has one arrives). Devices on
    /// suspected nodes are never chosen.
    /// </summary>
    /// <para><paramref name="Audit"/>: a route for verification, which must avoid every excluded device (no fallback)
    /// and is answered at once, with <see cref="NoAuditRoute"/> when the current table has none.</para>
    /// <para><paramref name="TrustedOnly"/>: only trusted devices' stages (a job that asked for it); waits like any select.</para>
    public sealed record Select(IReadOnlySet<DeviceKey> Excluded, bool Audit = false, bool TrustedOnly = false);

    /// <summary>The chosen route, first stage first; counted as in use by the requester until <see cref="Done"/>.</summary>
    public sealed record Selected(IReadOnlyList<RouteEntry> Route, long TableVersion, bool Audit = false);

    /// <summary>RouteCache → session: no route avoids the excluded devices (an audit <see cref="Select"/>).</summary>
    public sealed record NoAuditRoute
    {
        public static NoAuditRoute Instance { get; } = new();
    }

    /// <summary>Session → RouteCache: verification caught this device lying; never route through it again.</summary>
    public sealed record Quarantined(DeviceKey Device);

    /// <summary>Session → RouteCache: the route is no longer used by the sender.</summary>
    public sealed record Done(IReadOnlyList<RouteEntry> Route);

    /// <summary>Session → RouteCache: stop waiting for a route for the sender.</summary>
    public sealed record CancelSelect
    {
        public static CancelSelect Instance { get; } = new();
    }

    /// <summary>RouteCache → local event stream: <paramref name="Node"/> looks dead.</summary>
    public sealed record NodeSuspected(NodeAddress Node, string Why);

    /// <summary>Tests, status: reply with the current <see cref="PlacementMessages.RouteTable"/>.</summary>
    public sealed record GetTable
    {
        public static GetTable Instance { get; } = new();
    }
}
