using System.Net;
using ActorLlm.Cluster.Hosting;
using ActorLlm.Cluster.Security;
using ActorLlm.Gateway.Api;
using ActorLlm.Gateway.Dashboard;
using Akka.Actor;
using Akka.Hosting;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace ActorLlm.Gateway;

/// <summary>
/// A gateway's process: one generic host running the Akka node (<see cref="ActorLlmHosting.WithActorLlm"/>, the same
/// composition root every node uses) and Kestrel serving the pool's front door (<see cref="HttpSettings"/>): the
/// OpenAI-compatible API under /v1 (<see cref="OpenAiApi"/>), and the live dashboard at /, /metrics and /health
/// (<see cref="DashboardApi"/>). Requests under /v1 need an API key
/// (<see cref="ApiKeys"/>) unless the operator turned auth off. Every error, ours or Kestrel's (a body over the limit),
/// is OpenAI's error object; an unknown path is a 404 of the same shape.
/// </summary>
public static class GatewayWebHost
{
    public static WebApplication Build(ActorLlmSettings settings, NodeResources resources, Action<string>? log = null, PoolSecurity? pool = null, Cluster.Security.Tls.NodeTls? tls = null, ILoggerFactory? logging = null)
    {
        var http = settings.Http;
        var keys = ApiKeys.Load(http);
        if (!keys.Required)
        {
            log?.Invoke($"warning: http.auth is off: anyone who can reach {http.Host}:{http.Port} can use this pool");
        }

        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { ApplicationName = typeof(GatewayWebHost).Assembly.GetName().Name });
        // The node's own factory when it has one (every line through one console queue), else the same console.
        builder.Logging.AddActorLlmConsole(settings.Log);
        if (logging is not null)
        {
            builder.Services.UseFactory(logging);
        }
        if (pool?.Authority is not null)
        {
            builder.WebHost.UseKestrelHttpsConfiguration();
        }

        builder.WebHost.ConfigureKestrel(k =>
        {
            k.Limits.MaxRequestBodySize = http.MaxBodyBytes;
            k.AddServerHeader = false;
            k.Listen(Address(http.Host), http.Port);
            if (pool?.Authority is not null && pool.Credentials is { } credentials)
            {
                // The join endpoint: HTTPS with this gateway's pool certificate. A client certificate is asked for
                // but not required (a joining node has none yet); /pool/renew checks it against the CA and deny list.
                k.Listen(Address(settings.Pool.HttpsHost), settings.Pool.HttpsPort, listen => listen.UseHttps(o =>
                {
                    o.ServerCertificate = credentials.Certificate;
                    o.SslProtocols = System.Security.Authentication.SslProtocols.Tls12 | System.Security.Authentication.SslProtocols.Tls13;
                    o.ClientCertificateMode = ClientCertificateMode.AllowCertificate;
                    o.ClientCertificateValidation = (_, _, _) => true;
                }));
            }
        });
        builder.Services.AddAkka(ActorLlmSettings.SystemName, b => b.WithActorLlm(settings, resources, tls));
        builder.Services.AddSingleton(settings);
        builder.Services.AddSingleton(http);
        builder.Services.AddSingleton(keys);
        builder.Services.AddSingleton(pool ?? PoolSecurity.None());
        if (tls is not null)
        {
            builder.Services.AddSingleton(tls); // the caller owns it (and disposes it after the host)
        }
        builder.Services.AddSingleton(ServedModels.For(settings, resources, log));
        builder.Services.AddSingleton(sp =>
        {
            var registry = sp.GetRequiredService<ActorRegistry>();
            return new PoolJobs(sp.GetRequiredService<ActorSystem>(), registry.Get<SessionRegionKey>(), registry.Get<RouteCacheKey>(), http, settings.Wire);
        });
        builder.Services.AddDashboard();

        var app = builder.Build();
        if (pool?.Authority is not null)
        {
            app.Use(PoolJoinApi.OnlyOnHttps);
        }

        app.UseDashboardMetrics();
        app.Use(Errors);
        app.Use(Authentication);
        app.MapOpenAiApi();
        app.MapStatusApi();
        app.MapDashboard();
        if (pool?.Authority is not null)
        {
            app.MapPoolJoin(pool, app.Services.GetRequiredService<ActorSystem>(), app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("ActorLlm.Gateway.PoolJoin"));
        }

        app.MapFallback(context => new ApiException(StatusCodes.Status404NotFound, $"no route {context.Request.Method} {context.Request.Path}", ApiException.NotFound, code: "unknown_url").WriteAsync(context.Response));
        return app;
    }

    /// <summary>The URL Kestrel listens on, e.g. http://127.0.0.1:8080 (the port it got when http.port is 0; localhost for any address).</summary>
    public static string Url(WebApplication app) => ServerAddress(app, "http://") ?? throw new InvalidOperationException("the HTTP server has no address");

    /// <summary>The join endpoint's base URL, e.g. https://192.168.1.10:4443 (null when this gateway holds no pool CA).</summary>
    public static string? PoolUrl(WebApplication app) => ServerAddress(app, "https://");

    private static string? ServerAddress(WebApplication app, string scheme) =>
        app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses
            .FirstOrDefault(a => a.StartsWith(scheme, StringComparison.Ordinal))?.Replace("[::]", "localhost", StringComparison.Ordinal).Replace("0.0.0.0", "localhost", StringComparison.Ordinal);

    private static IPAddress Address(string host) =>
        host is "localhost" ? IPAddress.Loopback
        : IPAddress.TryParse(host, out var address) ? address
        : Dns.GetHostAddresses(host).FirstOrDefault() ?? throw new Inference.InvalidRequestException($"http.host '{host}' does not resolve");

    /// <summary>Answers every failure as OpenAI's error object; the process and its other requests are untouched.</summary>
    private static async Task Errors(HttpContext context, RequestDelegate next)
    {
        try
        {
            await next(context);
        }
        catch (ApiException e) when (!context.Response.HasStarted)
        {
            await e.WriteAsync(context.Response);
        }
        catch (BadHttpRequestException e) when (!context.Response.HasStarted)
        {
            string message = e.StatusCode == StatusCodes.Status413PayloadTooLarge
                ? $"the request body is larger than http.max-body-bytes ({context.RequestServices.GetRequiredService<HttpSettings>().MaxBodyBytes} bytes)"
                : $"bad HTTP request: {e.Message}";
            await new ApiException(e.StatusCode, message).WriteAsync(context.Response);
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
        {
            // The client went away; there is nobody to answer.
        }
        catch (Exception e) when (!context.Response.HasStarted)
        {
            context.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger("ActorLlm.Gateway").LogError(e, "request {Path} failed", context.Request.Path);
            await new ApiException(StatusCodes.Status500InternalServerError, $"internal error: {e.GetType().Name}: {e.Message}", ApiException.Server).WriteAsync(context.Response);
        }
    }

    /// <summary>The API under /v1 needs a valid bearer key (unless auth is off); the dashboard, metrics and health do not.</summary>
    private static Task Authentication(HttpContext context, RequestDelegate next)
    {
        if (context.Request.Path.StartsWithSegments("/v1") && !context.RequestServices.GetRequiredService<ApiKeys>().Accepts(context.Request.Headers.Authorization))
        {
            string message = context.Request.Headers.Authorization.Count == 0
                ? "missing API key: send 'Authorization: Bearer KEY'"
                : "invalid API key";
            return new ApiException(StatusCodes.Status401Unauthorized, message, ApiException.Authentication, code: "invalid_api_key").WriteAsync(context.Response);
        }

        return next(context);
    }
}
