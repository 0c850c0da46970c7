using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.RegularExpressions;
using ActorLlm.Cli.Pool;
using ActorLlm.Protocol.Messages;
using Microsoft.Playwright;
using Xunit;
using Xunit.Abstractions;

namespace ActorLlm.IntegrationTests;

/// <summary>
/// The gateway's dashboard in a real browser (Debian's chromium, driven by Playwright's bundled driver) against a real
/// pool, and its feed, metrics and health endpoints over HTTP. scripts/ensure-package.sh (run by test.sh) installs
/// chromium where it is missing.
/// </summary>
public sealed partial class DashboardTests(ITestOutputHelper output) : PoolTestBase(output)
{
    private const string Chromium = "/usr/bin/chromium";

    [Fact]
    public Task The_dashboard_draws_the_pools_devices_and_follows_a_worker_joining_and_leaving_without_a_reload() => WithLogs(async () =>
    {
        Assert.True(File.Exists(Chromium), $"{Chromium} is missing: run scripts/ensure-package.sh (test.sh does)");
        var (pool, client) = await StartPoolAsync(workers: 1);
        string site = Site(pool);

        using var playwright = await Playwright.CreateAsync();
        await using var browser = await playwright.Chromium.LaunchAsync(new() { ExecutablePath = Chromium, Headless = true });
        var page = await browser.NewPageAsync(new() { ViewportSize = new() { Width = 1360, Height = 940 }, ColorScheme = ColorScheme.Light });
        Assertions.SetDefaultExpectTimeout((float)Timeout.TotalMilliseconds);
        var errors = new ConcurrentQueue<string>();
        page.PageError += (_, e) => errors.Enqueue(e);
        page.Console += (_, m) =>
        {
            if (m.Type == "error")
            {
                errors.Enqueue(m.Text);
            }
        };
        int navigations = 0;
        page.FrameNavigated += (_, f) =>
        {
            if (f == page.MainFrame)
            {
                Interlocked.Increment(ref navigations);
            }
        };

        await page.GotoAsync(site);
        var one = await client.StatusAsync(Timeout);
        await ExpectDevicesAsync(page, one);
        await Assertions.Expect(page.Locator("#model")).ToHaveTextAsync("stories260K");
        await Assertions.Expect(page.Locator("#placement")).ToContainTextAsync("Complete");
        await Assertions.Expect(page.Locator("#route-version")).ToHaveTextAsync(one.RouteVersion.ToString(System.Globalization.CultureInfo.InvariantCulture));
        await Assertions.Expect(page.Locator("#live")).ToHaveAttributeAsync("data-state", "live");

        // A second worker joins: the page (the same document: no navigation, the marker survives) redraws from the feed.
        await page.EvaluateAsync("() => { window.__sameDocument = 42; }");
        await pool.AddWorkerAsync("worker-2", Timeout);
        var two = await WaitPlacedAsync(client, devices: 2, afterRouteVersion: one.RouteVersion);
        Assert.Equal(2, two.Devices.Count(d => d.Serving is not null));
        await ExpectDevicesAsync(page, two);
        await Assertions.Expect(page.Locator("[data-testid=event]", new() { HasTextString = "worker-2:cpu registered" })).ToHaveCountAsync(1);
        await Assertions.Expect(page.Locator("[data-testid=event][data-kind=rollout]", new() { HasTextString = "worker-2:cpu" }).First).ToBeVisibleAsync();
        await Assertions.Expect(page.Locator("[data-testid=machine][data-machine=worker-2]")).ToBeVisibleAsync();
        Assert.Equal(42, await page.EvaluateAsync<int>("() => window.__sameDocument"));
        Assert.Equal(1, navigations);

        // Jobs streaming through both workers while the screenshot is taken: the page shows the stages' sessions.
        using var http = Http(pool);
        using var load = new CancellationTokenSource();
        var streaming = StreamUntilCancelledAsync(http, load.Token);
        await Assertions.Expect(page.Locator("#c-sessions")).ToHaveTextAsync(NonZero());
        foreach (var d in two.Devices)
        {
            var row = page.Locator($"[data-testid=device][data-device='{d.Device.Label}']");
            await Assertions.Expect(row.Locator(".load b").First).ToHaveTextAsync(NonZero());   // its sessions
            await Assertions.Expect(row.Locator(".load b").Last).ToHaveTextAsync(NonZero());    // its tokens/s
        }

        await Assertions.Expect(page.Locator("#c-tps")).ToHaveTextAsync(NonZero());
        byte[] png = await page.ScreenshotAsync(new() { FullPage = true });
        await load.CancelAsync();
        int streamed = await streaming;
        Output.WriteLine($"{streamed} streamed completions while the page was watched; screenshot {png.Length / 1024} KiB");
        SaveScreenshot(png);

        // The second worker leaves (gracefully): its row goes, the leave is listed, and worker-1 takes the model back.
        await pool["worker-2"].StopAsync(TimeSpan.FromSeconds(10));
        await Assertions.Expect(page.Locator("[data-testid=device][data-device='worker-2:cpu']")).ToHaveCountAsync(0);
        await Assertions.Expect(page.Locator("[data-testid=event][data-kind=leave]", new() { HasTextString = "worker-2" }).First).ToBeVisibleAsync();
        await Assertions.Expect(page.Locator("[data-testid=device][data-device='worker-1:cpu']")).ToHaveAttributeAsync("data-serving", "begin..end");

        Assert.Empty(errors);
        Assert.Equal(1, navigations);
    });

    [Fact]
    public Task Metrics_health_and_the_live_feed_answer_and_bad_input_does_not_hurt_the_gateway() => WithLogs(async () =>
    {
        var pool = await LocalPool.StartAsync(new LocalPoolOptions(Model, Path.Combine(WorkDir, "pool")), Timeout);
        await using var _ = pool;
        using var http = Http(pool);
        string site = Site(pool);

        // Up but not ready: no worker, so no route covers the model.
        var live = await http.GetAsync(site + "/health/live");
        Assert.Equal(HttpStatusCode.OK, live.StatusCode);
        Assert.Contains("\"live\"", await live.Content.ReadAsStringAsync());
        var notReady = await http.GetAsync(site + "/health/ready");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, notReady.StatusCode);
        Assert.Contains("\"unavailable\"", await notReady.Content.ReadAsStringAsync());

        await pool.AddWorkerAsync("worker-1", Timeout);
        var client = await ConnectAsync(pool);
        await WaitPlacedAsync(client, devices: 1);
        await WaitForAsync(async () => (await http.GetAsync(site + "/health/ready")).StatusCode == HttpStatusCode.OK, "/health/ready to answer 200");

        // One streamed and one whole completion: the token counters and latency histograms move.
        using var load = new CancellationTokenSource();
        Assert.True(await StreamOnceAsync(http, 40, load.Token));
        var whole = await http.PostAsync("completions", Json("""{"model": "stories260K", "prompt": "Once", "max_tokens": 20}"""));
        Assert.Equal(HttpStatusCode.OK, whole.StatusCode);
        string metrics = await http.GetStringAsync(site + "/metrics");
        Assert.Matches(@"(?m)^actorllm_generated_tokens_total [1-9]", metrics);
        Assert.Matches(@"(?m)^actorllm_jobs_total\{outcome=""completed""\} 2$", metrics);
        Assert.Matches(@"(?m)^actorllm_time_to_first_token_seconds_count\{mode=""stream""\} 1$", metrics);
        Assert.Matches(@"(?m)^actorllm_time_to_first_token_seconds_count\{mode=""whole""\} 1$", metrics);
        Assert.Matches(@"(?m)^actorllm_inter_token_latency_seconds_count\{mode=""stream""\} [1-9]", metrics);
        Assert.Matches(@"(?m)^actorllm_stage_decode_step_seconds_count\{stage=""worker-1:cpu""\} 2$", metrics);
        Assert.Matches(@"(?m)^actorllm_stage_decode_batch_size_count\{stage=""worker-1:cpu""\} 2$", metrics);
        Assert.Matches(@"(?m)^actorllm_route_version [1-9]", metrics);
        Assert.Matches(@"(?m)^actorllm_devices 1$", metrics);
        Assert.Matches(@"(?m)^actorllm_rollouts_total [1-9]", metrics);
        Assert.Matches(@"(?m)^actorllm_jobs_running 0$", metrics);
        Assert.Matches(@"(?m)^http_requests_received_total\{code=""200"",method=""POST"",controller="""",action="""",endpoint=""/v1/completions""\} 2$", metrics);

        // The feed: hello, the ring's events with ids, then a status at each poll.
        using (var feed = await http.GetAsync(site + "/api/events", HttpCompletionOption.ResponseHeadersRead))
        {
            Assert.Equal("text/event-stream", feed.Content.Headers.ContentType?.MediaType);
            using var reader = new StreamReader(await feed.Content.ReadAsStreamAsync());
            var seen = new List<string>();
            while (!seen.Contains("event: status") && await reader.ReadLineAsync() is { } line)
            {
                seen.Add(line);
            }

            Assert.Contains("event: hello", seen);
            Assert.Contains("event: pool-event", seen);
            Assert.Contains(seen, l => l.StartsWith("data: ", StringComparison.Ordinal) && l.Contains("worker-1:cpu registered", StringComparison.Ordinal));
        }

        // Bad input: an unreadable Last-Event-ID, a file the dashboard does not have, a metrics scrape with junk.
        using (var request = new HttpRequestMessage(HttpMethod.Get, site + "/api/events"))
        {
            request.Headers.TryAddWithoutValidation("Last-Event-ID", "not a number; -1e9");
            using var odd = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
            Assert.Equal(HttpStatusCode.OK, odd.StatusCode);
        }

        Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync(site + "/dashboard/..%2F..%2Fappsettings.json")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync(site + "/dashboard/nothing.js")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync(site + "/metrics?name[]=%00&x=" + new string('a', 4000))).StatusCode);
        var page = await http.GetAsync(site + "/");
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Equal("text/html", page.Content.Headers.ContentType?.MediaType);
        Assert.Contains("default-src 'self'", page.Headers.GetValues("Content-Security-Policy").Single());
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync(site + "/health/live")).StatusCode);
    });

    /// <summary>Waits until each device's row shows the ranges the status gives it (assigned and serving, e.g. "begin..layer.2").</summary>
    private static async Task ExpectDevicesAsync(IPage page, StatusMessages.ClusterStatus status)
    {
        await Assertions.Expect(page.Locator("[data-testid=device]")).ToHaveCountAsync(status.Devices.Length);
        foreach (var d in status.Devices)
        {
            var row = page.Locator($"[data-testid=device][data-device='{d.Device.Label}']");
            string serving = Range(d.Serving, status.Layers);
            await Assertions.Expect(row).ToHaveAttributeAsync("data-serving", serving);
            await Assertions.Expect(row).ToHaveAttributeAsync("data-assigned", Range(d.Assigned, status.Layers));
            await Assertions.Expect(row.Locator(".bar.serving")).ToHaveTextAsync(serving);
            await Assertions.Expect(row.Locator(".bar.serving")).ToBeVisibleAsync();
        }
    }

    private static string Range(Protocol.UnitRange? r, int layers) => r is { } range ? range.Describe(layers).Trim('[', ']') : "";

    private static string Site(LocalPool pool)
    {
        Assert.EndsWith("/v1", pool.ApiUrl);
        return pool.ApiUrl[..^"/v1".Length];
    }

    private static HttpClient Http(LocalPool pool)
    {
        var http = new HttpClient { BaseAddress = new Uri(pool.ApiUrl.TrimEnd('/') + "/"), Timeout = Timeout };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", pool.ApiKey);
        return http;
    }

    private static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");

    /// <summary>Streams completions (four choices each, the most tokens the context allows) one after another until cancelled; how many finished.</summary>
    private static async Task<int> StreamUntilCancelledAsync(HttpClient http, CancellationToken cancel)
    {
        int done = 0;
        try
        {
            while (!cancel.IsCancellationRequested && await StreamOnceAsync(http, 480, cancel, n: 4))
            {
                done++;
            }
        }
        catch (OperationCanceledException) when (cancel.IsCancellationRequested)
        {
        }

        return done;
    }

    /// <summary>One streamed completion read to its [DONE]; false if the stream ended without it.</summary>
    private static async Task<bool> StreamOnceAsync(HttpClient http, int maxTokens, CancellationToken cancel, int n = 1)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "completions")
        {
            Content = Json($$"""{"model": "stories260K", "prompt": "Once upon a time", "max_tokens": {{maxTokens}}, "n": {{n}}, "stream": true}"""),
        };
        using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancel);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(cancel));
        while (await reader.ReadLineAsync(cancel) is { } line)
        {
            if (line == "data: [DONE]")
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Asks again (every 100 ms, up to the test timeout) until <paramref name="condition"/> holds.</summary>
    private static async Task WaitForAsync(Func<Task<bool>> condition, string what)
    {
        var deadline = DateTime.UtcNow + Timeout;
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < deadline, $"timed out waiting for {what}");
            await Task.Delay(100);
        }
    }

    /// <summary>
    /// The screenshot goes with the test's output; with ACTORLLM_UPDATE_SCREENSHOT=1 it also replaces the one the docs
    /// show (docs/dashboard.png), so that an ordinary test run leaves the working tree as it was.
    /// </summary>
    private void SaveScreenshot(byte[] png)
    {
        string local = Path.Combine(AppContext.BaseDirectory, "dashboard.png");
        File.WriteAllBytes(local, png);
        Output.WriteLine($"screenshot: {local}");
        if (Environment.GetEnvironmentVariable("ACTORLLM_UPDATE_SCREENSHOT") == "1")
        {
            var dir = new DirectoryInfo(AppContext.BaseDirectory);
            while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "ActorLlm.sln")))
            {
                dir = dir.Parent;
            }

            Assert.NotNull(dir);
            string docs = Path.Combine(dir.FullName, "docs", "dashboard.png");
            File.WriteAllBytes(docs, png);
            Output.WriteLine($"screenshot: {docs}");
        }
    }

    /// <summary>A number the page shows that is not zero ("3", "1,024", "12.5", not "0" or "0.0").</summary>
    [GeneratedRegex(@"^(?!0(\.0+)?$)[0-9][0-9,]*(\.[0-9]+)?$")]
    private static partial Regex NonZero();
}
