using System.Text.Json;
using ActorLlm.Cluster.Security;
using Akka.Actor;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Logging;

namespace ActorLlm.Gateway;

/// <summary>
/// The join endpoint of a gateway that holds the pool's CA (actorllm.pool.dir), served only on its HTTPS listener
/// (actorllm.pool.https-port, with the gateway's pool certificate):
/// <c>GET /pool/ca.crt</c> (the CA certificate, so a joining node can compare it with its token's fingerprint before
/// sending anything), <c>POST /pool/join</c> (<see cref="JoinRequest"/>: a token and a CSR; answers
/// <see cref="JoinResponse"/>), <c>POST /pool/renew</c> (<see cref="RenewRequest"/>, authenticated by the node's
/// current certificate as the TLS client certificate). A refusal is a 4xx with <see cref="JoinError"/>.
/// </summary>
public static class PoolJoinApi
{
    public const string Prefix = "/pool";

    public static IEndpointRouteBuilder MapPoolJoin(this IEndpointRouteBuilder app, PoolSecurity pool, ActorSystem system, ILogger log)
    {
        var authority = pool.Authority ?? throw new InvalidOperationException("the join endpoint needs the pool's CA (actorllm.pool.dir)");
        IReadOnlyList<string> Seeds()
        {
            var self = Akka.Cluster.Cluster.Get(system).SelfAddress;
            return [$"{self.Host}:{self.Port}"];
        }

        app.MapGet(Prefix + "/ca.crt", () => Results.Text(authority.CaPem, "application/x-pem-file"));
        app.MapPost(Prefix + "/join", async (HttpContext context) =>
        {
            var request = await ReadAsync(context, PoolJson.Default.JoinRequest);
            if (request is null)
            {
                return Refused(400, "the body must be JSON {\"token\": TOKEN, \"csr\": PEM}");
            }

            try
            {
                using var certificate = authority.Join(request.Token, request.Csr, DateTimeOffset.UtcNow);
                var id = PoolIdentity.Parse(certificate);
                log.LogInformation("pool join: admitted '{Name}' ({Trust}, {Roles}) from {Remote}, serial {Serial}, until {NotAfter:u}", id.Name, PoolIdentity.TrustText(id.Trust), string.Join("+", id.Roles), context.Connection.RemoteIpAddress, id.Serial, id.NotAfter);
                return Results.Json(new JoinResponse(id.Name, certificate.ExportCertificatePem(), authority.CaPem, Seeds()), PoolJson.Default.JoinResponse);
            }
            catch (JoinRefusedException e)
            {
                log.LogWarning("pool join refused from {Remote}: {Reason}", context.Connection.RemoteIpAddress, e.Message);
                return Refused(e.Status, e.Message);
            }
        });
        app.MapPost(Prefix + "/renew", async (HttpContext context) =>
        {
            var request = await ReadAsync(context, PoolJson.Default.RenewRequest);
            if (request is null)
            {
                return Refused(400, "the body must be JSON {\"csr\": PEM}");
            }

            try
            {
                var current = await context.Connection.GetClientCertificateAsync(context.RequestAborted);
                using var certificate = authority.Renew(current, request.Csr, pool.Deny, DateTimeOffset.UtcNow);
                var id = PoolIdentity.Parse(certificate);
                log.LogInformation("pool renew: '{Name}' renewed from {Remote}, serial {Serial}, until {NotAfter:u}", id.Name, context.Connection.RemoteIpAddress, id.Serial, id.NotAfter);
                return Results.Json(new JoinResponse(id.Name, certificate.ExportCertificatePem(), authority.CaPem, Seeds()), PoolJson.Default.JoinResponse);
            }
            catch (JoinRefusedException e)
            {
                log.LogWarning("pool renew refused from {Remote}: {Reason}", context.Connection.RemoteIpAddress, e.Message);
                return Refused(e.Status, e.Message);
            }
        });
        return app;
    }

    /// <summary>The pool endpoints only on the HTTPS listener, and nothing else there (the API keeps its own port).</summary>
    public static Task OnlyOnHttps(HttpContext context, RequestDelegate next)
    {
        bool pool = context.Request.Path.StartsWithSegments(Prefix);
        if (pool == context.Request.IsHttps)
        {
            return next(context);
        }

        context.Response.StatusCode = StatusCodes.Status404NotFound;
        return context.Response.WriteAsJsonAsync(
            new JoinError(pool ? "the pool's join endpoint is served over HTTPS on actorllm.pool.https-port" : "this HTTPS port serves only the pool's join endpoint (/pool/...)"),
            PoolJson.Default.JoinError);
    }

    private static IResult Refused(int status, string message) => Results.Json(new JoinError(message), PoolJson.Default.JoinError, statusCode: status);

    private static async Task<T?> ReadAsync<T>(HttpContext context, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> type)
        where T : class
    {
        try
        {
            return await JsonSerializer.DeserializeAsync(context.Request.Body, type, context.RequestAborted);
        }
        catch (JsonException)
        {
            return null;
        }
    }
}
