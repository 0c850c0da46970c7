using ActorLlm.Protocol;
using ActorLlm.Protocol.Messages;
using Akka.Actor;

namespace ActorLlm.Cluster.Session.Internal;

/// <summary>The route a session's job runs on, with its message hops built once per route (not per token).</summary>
internal sealed class ActiveRoute
{
    private readonly RouteHop[] _hops;
    private readonly RouteHop[] _rest;

    public ActiveRoute(IReadOnlyList<RouteEntry> entries)
    {
        Entries = entries;
        _hops = RouteSelection.Hops(entries);
        _rest = _hops[1..];
    }

    /// <summary>First stage first, as the RouteCache selected them.</summary>
    public IReadOnlyList<RouteEntry> Entries { get; }

    /// <summary>Where every step goes first.</summary>
    public IActorRef FirstStage => _hops[0].Worker;

    public DeviceKey[] Devices => [.. Entries.Select(e => e.Device.Key)];

    public NodeAddress[] Nodes => [.. Entries.Select(e => e.Device.Node)];

    public RouteSteps Steps(long step, IActorRef replyTo) => new(step, _hops, _rest, replyTo);

    /// <param name="layers">The model's decoder layers (unit names depend on them).</param>
    public string[] Labels(int layers) => [.. Entries.Select(e => RouteSelection.Label(e, layers))];
}
