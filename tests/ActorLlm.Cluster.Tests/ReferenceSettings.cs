using ActorLlm.Cluster.Hosting;

namespace ActorLlm.Cluster.Tests;

/// <summary>
/// The settings reference.conf gives (no file, environment or command line), so that tests start from the shipped
/// defaults and vary only what they test, instead of repeating the values in code.
/// </summary>
public static class ReferenceSettings
{
    public static ActorLlmSettings Value { get; } = ActorLlmSettings.From(ActorLlmConfig.Build(null, null, _ => null));

    public static FetchSettings Fetch => Value.Fetch;

    public static ProbeSettings Probe => Value.Probe;

    public static RouteCacheSettings RouteCache => Value.RouteCache;
}
