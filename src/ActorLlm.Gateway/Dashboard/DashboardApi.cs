using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using ActorLlm.Cluster.Hosting;
using ActorLlm.Gateway.Api;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Prometheus;

namespace ActorLlm.Gateway.Dashboard;

/// <summary>
/// The gateway's pages for people and monitors, all without an API key: the live dashboard at <c>/</c> (plain
/// HTML, CSS and JS embedded in this assembly, no external requests), its feed <c>GET /api/events</c> (server-sent
/// events: the pool's status after every poll, and pool events), Prometheus metrics at <c>/metrics</c>, and
/// <c>/health/live</c> and <c>/health/ready</c>.
/// </summary>
public static class DashboardApi
{
    /// <summary>Pool events the gateway keeps (the oldest fall off).</summary>
    public const int EventCapacity = 500;

    /// <summary>A comment line this often keeps idle proxies from closing the feed.</summary>
    private static readonly TimeSpan s_keepAlive = TimeSpan.FromSeconds(15);

    /// <summary>The feed's JSON: the status as /api/status writes it; event kinds in lower case.</summary>
    public static JsonSerializerOptions Json { get; } = KindsInLowerCase(new JsonSerializerOptions(StatusApi.Json));

    private static JsonSerializerOptions KindsInLowerCase(JsonSerializerOptions options)
    {
        // Ahead of StatusApi's converter for every enum, which keeps the status's names (e.g. "Complete").
        options.Converters.Insert(0, new JsonStringEnumConverter<PoolEventKind>(JsonNamingPolicy.CamelCase));
        return options;
    }

    /// <summary>The dashboard's files: logical resource name → (content type, bytes, ETag).</summary>
    private static readonly Lazy<IReadOnlyDictionary<string, Asset>> s_assets = new(LoadAssets);

    /// <summary>The event ring, the metrics, and the status watcher (a hosted service) as singletons.</summary>
    public static IServiceCollection AddDashboard(this IServiceCollection services)
    {
        services.AddSingleton(_ => new EventRing(EventCapacity));
        services.AddSingleton(sp =>
        {
            var metrics = new ApiMetrics();
            DotNetStats.Register(metrics.Registry);
            metrics.Follow(sp.GetRequiredService<EventRing>());
            metrics.TrackRunning(() =>
            {
                try
                {
                    return sp.GetRequiredService<PoolJobs>().Running;
                }
                catch (Exception)
                {
                    return null; // the Akka node is still starting: no jobs, and no gauge yet
                }
            });
            if (sp.GetService<Cluster.Security.Tls.NodeTls>() is { } tls)
            {
                metrics.TrackTlsRefusals(() => tls.Validator.Refusals);
            }

            return metrics;
        });
        services.AddSingleton<StatusWatcher>();
        services.AddHostedService(sp => sp.GetRequiredService<StatusWatcher>());
        return services;
    }

    /// <summary>Counts every request by endpoint and status (outermost, so it sees the error statuses too).</summary>
    public static IApplicationBuilder UseDashboardMetrics(this IApplicationBuilder app) =>
        app.UseHttpMetrics(o => o.SetMetricFactory(Metrics.WithCustomRegistry(app.ApplicationServices.GetRequiredService<ApiMetrics>().Registry)));

    public static IEndpointRouteBuilder MapDashboard(this IEndpointRouteBuilder app)
    {
        app.MapMethods("/", [HttpMethods.Get, HttpMethods.Head], (HttpContext http) => Serve(http, "index.html"));
        app.MapGet("/dashboard/{file}", (HttpContext http, string file) => Serve(http, file));
        app.MapGet("/api/events", Events);
        app.MapGet("/health/live", () => Results.Json(new { status = "live" }, Json));
        app.MapGet("/health/ready", async (HttpContext http) => await (await Ready(http)).ExecuteAsync(http));
        app.MapMetrics("/metrics", app.ServiceProvider.GetRequiredService<ApiMetrics>().Registry);
        return app;
    }

    /// <summary>Ready when a route covers the model (what a request needs before it can start a job).</summary>
    private static async Task<IResult> Ready(HttpContext http)
    {
        try
        {
            await http.RequestServices.GetRequiredService<PoolJobs>().RequireRouteAsync(http.RequestAborted);
            var latest = http.RequestServices.GetRequiredService<StatusWatcher>().Latest.Status;
            return Results.Json(new { status = "ready", routeVersion = latest?.RouteVersion, devices = latest?.Devices.Length }, Json);
        }
        catch (Exception e) when (e is not OperationCanceledException || !http.RequestAborted.IsCancellationRequested)
        {
            http.Response.Headers.RetryAfter = "1";
            return Results.Json(new { status = "unavailable", reason = e is ApiException ? e.Message : $"the gateway is not ready: {e.Message}" }, Json, statusCode: StatusCodes.Status503ServiceUnavailable);
        }
    }

    /// <summary>
    /// The live feed: <c>event: hello</c> (the model, the poll interval), then every pool event still in the ring
    /// after the client's <c>Last-Event-ID</c> (each <c>event: pool-event</c> with its <c>id</c>), then after every
    /// status poll <c>event: status</c> (the status as <c>/api/status</c> has it) or <c>event: unavailable</c>, and
    /// new pool events as they happen. Runs until the client goes.
    /// </summary>
    private static async Task Events(HttpContext http)
    {
        var ring = http.RequestServices.GetRequiredService<EventRing>();
        var watcher = http.RequestServices.GetRequiredService<StatusWatcher>();
        var settings = http.RequestServices.GetRequiredService<HttpSettings>();
        var model = http.RequestServices.GetService<ServedModel>();
        var cancel = http.RequestAborted;
        long last = LastEventId(http.Request);

        var response = http.Response;
        response.ContentType = "text/event-stream; charset=utf-8";
        response.Headers.CacheControl = "no-cache";
        response.Headers["X-Accel-Buffering"] = "no";
        await response.StartAsync(cancel);
        await Write(response, "retry: 2000\n\n", cancel);
        await Send(response, "hello", null, new { model = model?.Name, statusIntervalMs = settings.StatusInterval.TotalMilliseconds, eventCapacity = ring.Capacity }, cancel);
        long sentPoll = -1;
        while (!cancel.IsCancellationRequested)
        {
            // Taken before reading, so nothing that happens while this round is written is missed.
            var polled = watcher.Changed;
            var added = ring.Changed;
            foreach (var e in ring.Since(last))
            {
                await Send(response, "pool-event", e.Id, e, cancel);
                last = e.Id;
            }

            var latest = watcher.Latest;
            if (latest.Poll != sentPoll && latest.Poll > 0)
            {
                sentPoll = latest.Poll;
                if (latest.Unavailable is not null)
                {
                    await Send(response, "unavailable", null, new { message = latest.Unavailable, at = latest.At }, cancel);
                }

                if (latest.Status is not null)
                {
                    await Send(response, "status", null, latest.Status, cancel);
                }
            }

            await response.Body.FlushAsync(cancel);
            using var quiet = CancellationTokenSource.CreateLinkedTokenSource(cancel);
            var keepAlive = Task.Delay(s_keepAlive, quiet.Token);
            if (await Task.WhenAny(polled, added, keepAlive) == keepAlive)
            {
                await keepAlive; // throws when the client went away
                await Write(response, ": keep-alive\n\n", cancel);
            }

            await quiet.CancelAsync();
        }
    }

    /// <summary>The client's last event id (a reconnecting EventSource sends it); anything unreadable is 0: all events.</summary>
    public static long LastEventId(HttpRequest request)
    {
        string? raw = request.Headers["Last-Event-ID"].FirstOrDefault() ?? request.Query["since"].FirstOrDefault();
        return long.TryParse(raw, NumberStyles.None, CultureInfo.InvariantCulture, out long id) ? id : 0;
    }

    private static Task Send(HttpResponse response, string name, long? id, object payload, CancellationToken cancel)
    {
        var b = new StringBuilder();
        if (id is long n)
        {
            b.Append(CultureInfo.InvariantCulture, $"id: {n}\n");
        }

        b.Append("event: ").Append(name).Append("\ndata: ").Append(JsonSerializer.Serialize(payload, payload.GetType(), Json)).Append("\n\n");
        return Write(response, b.ToString(), cancel);
    }

    private static async Task Write(HttpResponse response, string text, CancellationToken cancel) =>
        await response.Body.WriteAsync(Encoding.UTF8.GetBytes(text), cancel);

    private static async Task Serve(HttpContext http, string file)
    {
        if (!s_assets.Value.TryGetValue(file, out var asset))
        {
            throw new ApiException(StatusCodes.Status404NotFound, $"no dashboard file '{file}'", ApiException.NotFound, code: "unknown_url");
        }

        var response = http.Response;
        response.Headers.ETag = asset.ETag;
        response.Headers.CacheControl = "no-cache";
        response.Headers["X-Content-Type-Options"] = "nosniff";
        if (file.EndsWith(".html", StringComparison.Ordinal))
        {
            // Everything the page uses comes from this gateway; nothing else may be loaded or contacted.
            response.Headers.ContentSecurityPolicy = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'";
        }

        if (http.Request.Headers.IfNoneMatch.Contains(asset.ETag))
        {
            response.StatusCode = StatusCodes.Status304NotModified;
            return;
        }

        response.ContentType = asset.ContentType;
        response.ContentLength = asset.Bytes.Length;
        await response.Body.WriteAsync(asset.Bytes, http.RequestAborted);
    }

    /// <summary>The embedded files (Dashboard/wwwroot, named dashboard/FILE in the assembly).</summary>
    public static IReadOnlyDictionary<string, Asset> LoadAssets()
    {
        const string prefix = "dashboard/";
        var assembly = typeof(DashboardApi).Assembly;
        var assets = new Dictionary<string, Asset>(StringComparer.Ordinal);
        foreach (string name in assembly.GetManifestResourceNames().Where(n => n.StartsWith(prefix, StringComparison.Ordinal)))
        {
            using var stream = assembly.GetManifestResourceStream(name)!;
            using var buffer = new MemoryStream();
            stream.CopyTo(buffer);
            byte[] bytes = buffer.ToArray();
            string file = name[prefix.Length..];
            string type = Path.GetExtension(file) switch
            {
                ".html" => "text/html; charset=utf-8",
                ".css" => "text/css; charset=utf-8",
                ".js" => "text/javascript; charset=utf-8",
                ".svg" => "image/svg+xml",
                _ => "application/octet-stream",
            };
            assets[file] = new Asset(type, bytes, $"\"{Convert.ToHexStringLower(SHA256.HashData(bytes))[..16]}\"");
        }

        return assets;
    }

    public sealed record Asset(string ContentType, byte[] Bytes, string ETag);
}
