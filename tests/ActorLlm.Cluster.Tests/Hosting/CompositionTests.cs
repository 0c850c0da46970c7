using ActorLlm.Cluster.Hosting;
using Akka.Actor;
using Akka.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Xunit;

namespace ActorLlm.Cluster.Tests.Hosting;

/// <summary>
/// The composition root gives each node the actors of its roles, at their well-known names: a UnitServer on nodes
/// with a model, the coordinator singleton, RouteCache and session region on gateways (proxies elsewhere), a
/// NodeAgent on workers. Each node runs alone (no seeds), so it never joins a cluster.
/// </summary>
public sealed class CompositionTests
{
    [Theory]
    [InlineData("", false, false, false)]
    [InlineData("worker", true, false, true)]
    [InlineData("gateway", true, true, false)]
    [InlineData("gateway,worker", true, true, true)]
    public async Task Each_role_gets_its_actors_and_every_node_reaches_the_coordinator_and_the_sessions(
        string roles, bool unitServer, bool gateway, bool worker)
    {
        using var dir = new TempDir();
        var overrides = new Dictionary<string, string>
        {
            ["actorllm.node.roles"] = roles,
            ["actorllm.tls.enabled"] = "off",
            ["actorllm.node.port"] = "0",
            ["actorllm.model.store"] = gateway ? RepoPaths.Stories260K : "",
            ["actorllm.model.cache-dir"] = dir.Path,
            ["akka.loglevel"] = "ERROR",
        };
        var settings = ActorLlmSettings.From(ActorLlmConfig.Build(null, overrides, _ => null));
        using var resources = NodeResources.Prepare(settings);
        using var host = new HostBuilder()
            .ConfigureServices(s => s.AddAkka(ActorLlmSettings.SystemName, b => b.WithActorLlm(settings, resources)))
            .Build();
        await host.StartAsync();
        try
        {
            var registry = host.Services.GetRequiredService<ActorRegistry>();
            string? PathOf<TKey>() => registry.TryGet<TKey>(out var actor) ? actor.Path.ToStringWithoutAddress() : null;

            Assert.NotNull(PathOf<CoordinatorKey>());
            Assert.NotNull(PathOf<SessionRegionKey>());
            Assert.Equal(unitServer ? "/user/units" : null, PathOf<UnitServerKey>());
            Assert.Equal(gateway ? "/user/routes" : null, PathOf<RouteCacheKey>());
            Assert.Equal(worker ? "/user/node" : null, PathOf<NodeAgentKey>());

            // Only a gateway runs the singleton's manager (everyone reaches the coordinator through a proxy).
            var system = host.Services.GetRequiredService<ActorSystem>();
            var manager = system.ActorSelection("/user/placement").ResolveOne(TimeSpan.FromSeconds(5));
            if (gateway)
            {
                await manager;
            }
            else
            {
                await Assert.ThrowsAsync<ActorNotFoundException>(() => manager);
            }
        }
        finally
        {
            await host.StopAsync();
        }
    }
}
