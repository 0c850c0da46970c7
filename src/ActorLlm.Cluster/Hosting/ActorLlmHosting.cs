using ActorLlm.Protocol;
using ActorLlm.Protocol.Messages;
using Akka.Actor;
using ActorLlm.Cluster.Node;
using ActorLlm.Cluster.Placement;
using ActorLlm.Cluster.Security.Tls;
using ActorLlm.Cluster.Session;
using ActorLlm.Cluster.Weights;
using ActorLlm.Inference.Checkpoints;
using Akka.Cluster.Hosting;
using Akka.Cluster.Tools.PublishSubscribe;
using Akka.Hosting;
using Akka.Remote.Hosting;

namespace ActorLlm.Cluster.Hosting;

/// <summary>
/// The one composition root: everything an ActorLlm node runs, on an Akka.Hosting builder, one extension per role.
/// <code>services.AddAkka(ActorLlmSettings.SystemName, b => b.WithActorLlm(settings, resources));</code>
/// <see cref="WithActorLlm"/> decides once, from the node's roles, which of the others a node gets:
/// <list type="bullet">
/// <item>every node: <see cref="WithActorLlmNode"/> (config and serializer, remoting, clustering);</item>
/// <item>workers and gateways, the nodes with a model: <see cref="WithActorLlmUnitServer"/>;</item>
/// <item>gateways: <see cref="WithActorLlmGateway"/> (the PlacementCoordinator singleton, a RouteCache, the session
/// shard region); every other node, clients included: <see cref="WithActorLlmGatewayProxies"/>;</item>
/// <item>workers: <see cref="WithActorLlmWorker"/> (a NodeAgent).</item>
/// </list>
/// The role extensions expect the registry keys of the ones before them (a worker's NodeAgent needs the
/// coordinator and the UnitServer), so they are composed in this order.
/// </summary>
public static class ActorLlmHosting
{
    public static AkkaConfigurationBuilder WithActorLlm(this AkkaConfigurationBuilder builder, ActorLlmSettings settings, NodeResources resources, NodeTls? tls = null)
    {
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(resources);
        var node = settings.Node;
        builder.WithActorLlmNode(settings, tls);
        if (node.IsWorker || node.IsGateway)
        {
            builder.WithActorLlmUnitServer(settings, resources.Store);
        }

        if (node.IsGateway)
        {
            builder.WithActorLlmGateway(settings, resources, tls);
        }
        else
        {
            builder.WithActorLlmGatewayProxies(settings);
        }

        if (node.IsWorker)
        {
            builder.WithActorLlmWorker(settings, resources.Store);
        }

        return builder;
    }

    /// <summary>
    /// Every node: the merged config (with our serializer's bindings), Akka's log events into the host's
    /// Microsoft.Extensions.Logging (<see cref="NodeLogging"/>), remoting, and clustering with the node's roles
    /// and seeds. With actorllm.tls.enabled the remoting is mutual TLS with <paramref name="tls"/> (loaded from
    /// actorllm.tls.credentials, with no deny list, when null); without it, plain TCP.
    /// </summary>
    public static AkkaConfigurationBuilder WithActorLlmNode(this AkkaConfigurationBuilder builder, ActorLlmSettings settings, NodeTls? tls = null)
    {
        var node = settings.Node;

        // Bind and advertise separately (NodeAddressing): the node command resolves them first; any other process
        // (a PoolClient, a test) is resolved here from its settings.
        var addresses = NodeAddressing.Resolve(node);
        var remote = new RemoteOptions { HostName = addresses.Bind, PublicHostName = addresses.Advertised, Port = node.Port };
        if (settings.Tls.Enabled)
        {
            tls ??= NodeTls.Load(settings.Tls);
            remote.EnableSsl = true;
            remote.Ssl = tls.Remoting();

            // Under Akka's protocol layer: what volunteers may not send (MembershipGuard).
            string instance = Guid.NewGuid().ToString("N");
            MembershipGuard.Register(instance, tls);
            builder.AddHocon(MembershipGuard.Hocon(instance), HoconAddMode.Prepend);
        }

        return builder
            .AddHocon(settings.Config, HoconAddMode.Prepend)
            .WithActorLlmLogging(settings.Log)
            .WithRemoting(remote)
            .WithClustering(new ClusterOptions
            {
                Roles = [.. node.Roles],
                SeedNodes = [.. node.Seeds.Select(s => ActorLlmSettings.SeedAddress(s, settings.Tls.Enabled))],
            });
    }

    /// <summary>
    /// A node with a model (a worker or a gateway): a UnitServer at <see cref="UnitServer.Path"/> serving
    /// <paramref name="store"/> to peers (none yet on a worker that creates its store from a peer's manifest; its
    /// NodeAgent hands it over later). Registered as <see cref="UnitServerKey"/>.
    /// </summary>
    public static AkkaConfigurationBuilder WithActorLlmUnitServer(this AkkaConfigurationBuilder builder, ActorLlmSettings settings, UnitStore? store) =>
        builder.WithActors((system, registry) =>
            registry.Register<UnitServerKey>(system.ActorOf(UnitServer.Props(store, settings.Wire), UnitServer.Name)));

    /// <summary>
    /// A gateway: the PlacementCoordinator singleton (and its proxy, <see cref="CoordinatorKey"/>), a RouteCache
    /// (<see cref="RouteCacheKey"/>) and the session shard region (<see cref="SessionRegionKey"/>). Needs the model
    /// (store, tokenizer and units in <paramref name="resources"/>) and the node's UnitServer.
    /// </summary>
    public static AkkaConfigurationBuilder WithActorLlmGateway(this AkkaConfigurationBuilder builder, ActorLlmSettings settings, NodeResources resources, NodeTls? tls = null)
    {
        var store = resources.Store ?? throw new ArgumentException("a gateway needs the model's store", nameof(resources));
        var model = resources.Model ?? throw new ArgumentException("a gateway needs the model's units", nameof(resources));
        var tokenizer = resources.Tokenizer ?? throw new ArgumentException("a gateway needs the model's tokenizer", nameof(resources));
        builder.WithSingleton<CoordinatorKey>(
            PlacementCoordinator.SingletonName,
            (system, registry, _) => PlacementCoordinator.Props(
                model,
                settings.Placement,
                registry.Get<UnitServerKey>(),
                [.. store.PresentUnits()],
                DistributedPubSub.Get(system).Mediator,
                tls is null ? null : CertifiedTrust(tls, Akka.Cluster.Cluster.Get(system).SelfAddress)),
            OnGateways(),
            createProxyToo: true);
        builder.WithActors((system, registry) => registry.Register<RouteCacheKey>(system.ActorOf(
            RouteCache.Props(settings.RouteCache, registry.Get<CoordinatorKey>(), DistributedPubSub.Get(system).Mediator),
            "routes")));
        var config = store.Config;
        return builder.WithShardRegion<SessionRegionKey>(
            GenerationSession.TypeName,
            (_, registry) =>
            {
                var context = new SessionContext(
                    tokenizer,
                    settings.Session,
                    config.HiddenSize,
                    config.NumLayers,
                    Math.Min(settings.Worker.MaxContext, config.MaxPositionEmbeddings),
                    settings.Wire.MaxPayloadBytes,
                    registry.Get<RouteCacheKey>(),
                    registry.Get<CoordinatorKey>());
                return _ => GenerationSession.Props(context);
            },
            SessionExtractor(settings),
            new ShardOptions { Role = ActorLlmRoles.Gateway });
    }

    /// <summary>
    /// The trust a node's certificate gives it: this node's own, or the peer TLS saw at that address; null when
    /// unknown (the coordinator then keeps what the device declared).
    /// </summary>
    internal static Func<NodeAddress, DeviceTrust?> CertifiedTrust(NodeTls tls, Address self) => node =>
    {
        if (!ActorPath.TryParseAddress(node.Value, out var address))
        {
            return null;
        }

        var peer = address.Equals(self) ? tls.Credentials.Identity
            : address.Port is { } port ? tls.Validator.Peers.AtAddress(address.Host ?? "", port) : null;
        return peer is null ? null : peer.Volunteer ? DeviceTrust.Volunteer : DeviceTrust.Trusted;
    };

    /// <summary>
    /// A node without the gateway role (a worker, a client): proxies to the PlacementCoordinator singleton
    /// (<see cref="CoordinatorKey"/>) and to the session shard region (<see cref="SessionRegionKey"/>) on the gateways.
    /// </summary>
    public static AkkaConfigurationBuilder WithActorLlmGatewayProxies(this AkkaConfigurationBuilder builder, ActorLlmSettings settings) =>
        builder
            .WithSingletonProxy<CoordinatorKey>(PlacementCoordinator.SingletonName, OnGateways())
            .WithShardRegionProxy<SessionRegionKey>(GenerationSession.TypeName, ActorLlmRoles.Gateway, SessionExtractor(settings));

    /// <summary>
    /// A worker: its NodeAgent (<see cref="NodeAgentKey"/>), which measures the devices and starts their
    /// StageWorkers. Needs the coordinator (singleton or proxy) and the node's UnitServer registered before it.
    /// </summary>
    public static AkkaConfigurationBuilder WithActorLlmWorker(this AkkaConfigurationBuilder builder, ActorLlmSettings settings, UnitStore? store) =>
        builder.WithActors((system, registry) => registry.Register<NodeAgentKey>(system.ActorOf(
            NodeAgent.Props(settings, store, registry.Get<CoordinatorKey>(), registry.Get<UnitServerKey>()),
            NodeAgent.Name)));

    private static ClusterSingletonOptions OnGateways() => new() { Role = ActorLlmRoles.Gateway };

    /// <summary>Every node must shard sessions alike: a proxy computes the shard of a job as the region does.</summary>
    private static GenerationSession.MessageExtractor SessionExtractor(ActorLlmSettings settings) => new(settings.Sharding.SessionShards);
}
