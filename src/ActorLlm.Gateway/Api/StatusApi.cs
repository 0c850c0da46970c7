using System.Text.Json;
using ActorLlm.Cluster.Hosting;
using ActorLlm.Protocol.Messages;
using Akka.Actor;
using Akka.Hosting;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace ActorLlm.Gateway.Api;

/// <summary>
/// <c>GET /api/status</c>: the pool as the placement coordinator sees it (<see cref="StatusMessages.ClusterStatus"/>
/// as JSON, camelCase): members, devices with their assigned and serving unit ranges, replica groups, load, route
/// version. <c>actorllm status --cluster URL</c> reads it; so does the dashboard.
/// </summary>
public static class StatusApi
{
    /// <summary>How the status is written and read back (the CLI deserializes it into the same record).</summary>
    public static JsonSerializerOptions Json { get; } = new(JsonSerializerDefaults.Web)
    {
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        Converters = { new System.Text.Json.Serialization.JsonStringEnumConverter() },
    };

    public static IEndpointRouteBuilder MapStatusApi(this IEndpointRouteBuilder app)
    {
        app.MapGet("/api/status", async (ActorRegistry registry, HttpSettings settings, CancellationToken cancel) =>
            Results.Json(await AskAsync(registry, cancel), Json));
        return app;
    }

    /// <summary>The coordinator's status, or a 503 when the singleton does not answer (it may be starting or moving).</summary>
    public static async Task<StatusMessages.ClusterStatus> AskAsync(ActorRegistry registry, CancellationToken cancel)
    {
        try
        {
            return await registry.Get<CoordinatorKey>().Ask<StatusMessages.ClusterStatus>(new StatusMessages.GetClusterStatus(), TimeSpan.FromSeconds(5), cancel);
        }
        catch (AskTimeoutException)
        {
            throw new ApiException(StatusCodes.Status503ServiceUnavailable, "the placement coordinator did not answer (it may be starting)", ApiException.Unavailable) { RetryAfterSeconds = 1 };
        }
    }
}
