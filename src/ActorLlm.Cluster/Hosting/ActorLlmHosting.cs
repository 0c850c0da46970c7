using ActorLlm.Cluster.Node;
using ActorLlm.Cluster.Placement;
using ActorLlm.Cluster.Session;
using ActorLlm.Cluster.Weights;
using Akka.Cluster.Hosting;
using Akka.Cluster.Tools.PublishSubscribe;
using Akka.Hosting;
using Akka.Remote.Hosting;

namespace ActorLlm.Cluster.Hosting;

/// <summary>
/// The one composition root: everything an ActorLlm node runs, by role, on an Akka.Hosting builder.
/// <code>services.AddAkka(ActorLlmSettings.SystemName, b => b.WithActorLlm(settings, resources));</code>
/// Every node: remoting, clustering, our serializer. Workers and gateways: a UnitServer at /user/units.
/// Gateways: the PlacementCoordinator singleton, a RouteCache, the session shard region. Workers: a NodeAgent.
/// Everyone else (clients): proxies to the coordinator and the session region.
/// </summary>
public static class ActorLlmHosting
{
    private const int SessionShards = 64;

    public static AkkaConfigurationBuilder WithActorLlm(this AkkaConfigurationBuilder builder, ActorLlmSettings settings, NodeResources resources)
    {
        var node = settings.Node;
        var limits = settings.Wire;
        builder
            .AddHocon(settings.Config, HoconAddMode.Prepend)
            .WithRemoting(node.Host, node.Port)
            .WithClustering(new ClusterOptions
            {
                Roles = [.. node.Roles],
                SeedNodes = [.. node.Seeds.Select(ActorLlmSettings.SeedAddress)],
            });

        if (node.IsWorker || node.IsGateway)
        {
            builder.WithActors((system, registry) =>
                registry.Register<UnitServerKey>(system.ActorOf(UnitServer.Props(resources.Store, limits), UnitServer.Name)));
        }

        var gateway = new ClusterSingletonOptions { Role = ActorLlmRoles.Gateway };
        var extractor = new GenerationSession.MessageExtractor(SessionShards);
        if (node.IsGateway)
        {
            var store = resources.Store!;
            builder.WithSingleton<CoordinatorKey>(
                PlacementCoordinator.SingletonName,
                (system, registry, _) => PlacementCoordinator.Props(
                    resources.Model!,
                    settings.Placement,
                    registry.Get<UnitServerKey>(),
                    [.. store.PresentUnits()],
                    DistributedPubSub.Get(system).Mediator),
                gateway,
                createProxyToo: true);
            builder.WithActors((system, registry) => registry.Register<RouteCacheKey>(
                system.ActorOf(RouteCache.Props(settings.RouteCache, registry.Get<CoordinatorKey>(), DistributedPubSub.Get(system).Mediator), "routes")));
            var config = store.Config;
            builder.WithShardRegion<SessionRegionKey>(
                GenerationSession.TypeName,
                (_, registry) =>
                {
                    var context = new SessionContext(
                        resources.Tokenizer!,
                        settings.Session,
                        config.HiddenSize,
                        config.NumLayers,
                        Math.Min(settings.Worker.MaxContext, config.MaxPositionEmbeddings),
                        limits.MaxPayloadBytes,
                        registry.Get<RouteCacheKey>());
                    return _ => GenerationSession.Props(context);
                },
                extractor,
                new ShardOptions { Role = ActorLlmRoles.Gateway });
        }
        else
        {
            builder.WithSingletonProxy<CoordinatorKey>(PlacementCoordinator.SingletonName, gateway);
            builder.WithShardRegionProxy<SessionRegionKey>(GenerationSession.TypeName, ActorLlmRoles.Gateway, extractor);
        }

        if (node.IsWorker)
        {
            builder.WithActors((system, registry) => registry.Register<NodeAgentKey>(system.ActorOf(
                NodeAgent.Props(settings, resources.Store, registry.Get<CoordinatorKey>(), registry.Get<UnitServerKey>()),
                NodeAgent.Name)));
        }

        return builder;
    }
}
