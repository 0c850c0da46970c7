namespace ActorLlm.Cluster.Hosting;

/// <summary>Actor registry key: this node's UnitServer.</summary>
public sealed class UnitServerKey;

/// <summary>Actor registry key: the PlacementCoordinator singleton proxy.</summary>
public sealed class CoordinatorKey;

/// <summary>Actor registry key: the session shard region (or its proxy on non-gateway nodes).</summary>
public sealed class SessionRegionKey;

/// <summary>Actor registry key: this node's RouteCache (gateways).</summary>
public sealed class RouteCacheKey;

/// <summary>Actor registry key: this node's NodeAgent (workers).</summary>
public sealed class NodeAgentKey;
