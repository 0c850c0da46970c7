using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using ActorLlm.Gateway.Api;
using ActorLlm.Protocol;
using ActorLlm.Protocol.Messages;

namespace ActorLlm.Cli.Http;

/// <summary>The gateway refused or failed a request: its HTTP status and OpenAI error message.</summary>
public sealed class GatewayException(int status, string message) : Exception(message)
{
    public int Status { get; } = status;
}

/// <summary>
/// The CLI's client of a pool: plain HTTP to a gateway's API (no cluster membership). Completions stream as
/// server-sent events; the gateway's "actorllm" report in the final chunk gives the job's figures.
/// </summary>
public sealed class GatewayClient : IDisposable
{
    private readonly HttpClient _http;

    /// <summary>
    /// How long a connection to the gateway may take to open (at most): a gateway nobody answers at (a wrong address,
    /// a firewall dropping packets) is reported after this, not after the whole --timeout.
    /// </summary>
    public static readonly TimeSpan ConnectTimeout = TimeSpan.FromSeconds(8);

    public GatewayClient(string url, string? apiKey, TimeSpan timeout)
    {
        BaseUrl = Normalize(url);
        var connect = timeout < ConnectTimeout ? timeout : ConnectTimeout;
        _http = new HttpClient(new SocketsHttpHandler { ConnectCallback = (context, cancel) => ConnectAsync(context.DnsEndPoint, connect, cancel) })
        {
            BaseAddress = new Uri(BaseUrl + "/"),
            Timeout = timeout,
        };
        if (!string.IsNullOrEmpty(apiKey))
        {
            _http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", apiKey);
        }
    }

    /// <summary>
    /// Opens the TCP connection, giving up after <paramref name="within"/> with a reason (which HttpClient reports as
    /// an <see cref="HttpRequestException"/>, "cannot reach the gateway"), not the generic timeout of the whole request.
    /// </summary>
    private static async ValueTask<Stream> ConnectAsync(System.Net.DnsEndPoint endpoint, TimeSpan within, CancellationToken cancel)
    {
        var socket = new System.Net.Sockets.Socket(System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp) { NoDelay = true };
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        limit.CancelAfter(within);
        try
        {
            await socket.ConnectAsync(endpoint, limit.Token).ConfigureAwait(false);
            return new System.Net.Sockets.NetworkStream(socket, ownsSocket: true);
        }
        catch (OperationCanceledException) when (!cancel.IsCancellationRequested)
        {
            socket.Dispose();
            throw new IOException($"no connection to {endpoint.Host}:{endpoint.Port} within {within.TotalSeconds:0.#} s: is the gateway running there, is that its HTTP port (http.port), and does a firewall let it through?");
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>The API's base, e.g. http://127.0.0.1:8080/v1.</summary>
    public string BaseUrl { get; }

    /// <summary>
    /// "host:port", "http://host:port" or ".../v1" to the API base URL. A bare host:port is http (a pool's front door on
    /// a trusted network; put TLS in front of it otherwise).
    /// </summary>
    public static string Normalize(string url)
    {
        string u = url.Trim().TrimEnd('/');
        if (!u.Contains("://", StringComparison.Ordinal))
        {
            u = "http://" + u;
        }

        if (!Uri.TryCreate(u, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
        {
            throw new Inference.InvalidRequestException($"--cluster '{url}' is not a gateway URL (http://host:port)");
        }

        return u.EndsWith("/v1", StringComparison.Ordinal) ? u : u + "/v1";
    }

    /// <summary>The API key from the environment: ACTORLLM_API_KEY, else OPENAI_API_KEY.</summary>
    public static string? KeyFromEnvironment() =>
        Environment.GetEnvironmentVariable("ACTORLLM_API_KEY") is { Length: > 0 } k ? k : Environment.GetEnvironmentVariable("OPENAI_API_KEY");

    /// <summary>
    /// The served model's generation_config.json defaults, as its gateway lists them in /v1/models
    /// (<c>generation_defaults</c>; none from a gateway that lists none).
    /// </summary>
    public async Task<Inference.Generation.GenerationDefaults> GenerationDefaultsAsync(CancellationToken cancel = default)
    {
        var models = await GetJsonAsync("models", cancel);
        if (models["data"]?[0]?["generation_defaults"] is not JsonObject d)
        {
            return Inference.Generation.GenerationDefaults.None;
        }

        return Inference.Generation.GenerationDefaults.Parse(System.Text.Encoding.UTF8.GetBytes(d.ToJsonString()), $"{BaseUrl}/models generation_defaults");
    }

    /// <summary>The served model's name (the first of /v1/models).</summary>
    public async Task<string> ModelAsync(CancellationToken cancel = default)
    {
        var models = await GetJsonAsync("models", cancel);
        return models["data"]?[0]?["id"]?.GetValue<string>() ?? throw new GatewayException(0, "the gateway lists no model");
    }

    /// <summary>Streams a completion of <paramref name="prompt"/>, calling <paramref name="onText"/> with each piece of text.</summary>
    /// <param name="asked">When given, the sampling and length fields it leaves null are left out of the request, so the
    /// gateway fills them from its model's generation_config.json (<paramref name="options"/>' values for them are unused).</param>
    public async Task<JobMessages.GenerationCompleted> CompleteAsync(
        string prompt, WireGenerationOptions options, Action<string>? onText, CancellationToken cancel = default, Inference.Generation.SamplingRequest? asked = null)
    {
        string model = await ModelAsync(cancel);
        var body = new JsonObject
        {
            ["model"] = model,
            ["prompt"] = prompt,
            ["max_tokens"] = options.MaxTokens,
            ["temperature"] = options.Sampling.Temperature,
            ["top_p"] = options.Sampling.TopP,
            ["top_k"] = options.Sampling.TopK,
            ["repetition_penalty"] = options.Sampling.RepetitionPenalty,
            ["seed"] = unchecked((long)options.Sampling.Seed),
            ["stop"] = new JsonArray([.. options.StopStrings.Select(s => (JsonNode)s)]),
            ["stream"] = true,
        };
        if (!options.StopAtEos)
        {
            body["ignore_eos"] = true;
        }

        if (asked is not null)
        {
            foreach (var (field, given) in new[]
            {
                ("max_tokens", asked.MaxTokens is not null), ("temperature", asked.Temperature is not null), ("top_p", asked.TopP is not null),
                ("top_k", asked.TopK is not null), ("repetition_penalty", asked.RepetitionPenalty is not null),
            })
            {
                if (!given)
                {
                    body.Remove(field);
                }
            }
        }

        using var request = new HttpRequestMessage(HttpMethod.Post, "completions") { Content = Json(body) };
        using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancel);
        await ThrowIfFailed(response, cancel);
        var text = new StringBuilder();
        JsonNode? report = null;
        await foreach (var data in Events(response, cancel))
        {
            var chunk = JsonNode.Parse(data);
            if (chunk?["error"] is { } error)
            {
                throw new GatewayException(0, error["message"]?.GetValue<string>() ?? "the stream ended with an error");
            }

            var choice = chunk?["choices"]?[0];
            if (choice?["text"]?.GetValue<string>() is { Length: > 0 } piece)
            {
                text.Append(piece);
                onText?.Invoke(piece);
            }

            report = choice?["actorllm"] ?? report;
        }

        return report is null ? throw new GatewayException(0, "the stream ended without a result") : Completed(text.ToString(), report);
    }

    /// <summary>Each choice's log-probability as the continuation of <paramref name="prompt"/>, best first.</summary>
    public async Task<IReadOnlyList<ScoredChoice>> ChoicesAsync(string prompt, IReadOnlyList<string> choices, CancellationToken cancel = default)
    {
        string model = await ModelAsync(cancel);
        var body = new JsonObject { ["model"] = model, ["prompt"] = prompt, ["choices"] = new JsonArray([.. choices.Select(c => (JsonNode)c)]) };
        using var response = await _http.PostAsync("choices", Json(body), cancel);
        await ThrowIfFailed(response, cancel);
        var answer = JsonNode.Parse(await response.Content.ReadAsStringAsync(cancel))!;
        return [.. answer["choices"]!.AsArray().Select(c => new ScoredChoice(
            c!["index"]!.GetValue<int>(), c["text"]!.GetValue<string>(), c["logprob"]!.GetValue<double>(), c["tokens"]!.GetValue<int>()))];
    }

    /// <summary>The pool's status (GET /api/status beside the API).</summary>
    public async Task<StatusMessages.ClusterStatus> StatusAsync(CancellationToken cancel = default)
    {
        using var response = await _http.GetAsync(new Uri(BaseUrl[..^"/v1".Length] + "/api/status"), cancel);
        await ThrowIfFailed(response, cancel);
        return JsonSerializer.Deserialize<StatusMessages.ClusterStatus>(await response.Content.ReadAsStringAsync(cancel), StatusApi.Json)
            ?? throw new GatewayException(0, "empty status");
    }

    /// <summary>Polls the status until <paramref name="ready"/> holds; the last status either way.</summary>
    public async Task<StatusMessages.ClusterStatus> WaitForAsync(Func<StatusMessages.ClusterStatus, bool> ready, TimeSpan timeout, TimeSpan poll)
    {
        var deadline = DateTime.UtcNow + timeout;
        StatusMessages.ClusterStatus? last = null;
        while (DateTime.UtcNow < deadline)
        {
            try
            {
                last = await StatusAsync();
                if (ready(last))
                {
                    return last;
                }
            }
            catch (GatewayException e) when (e.Status == 503)
            {
                // The coordinator singleton may still be starting.
            }

            await Task.Delay(poll);
        }

        throw new TimeoutException($"the pool was not ready within {timeout.TotalSeconds:F0} s: {(last is null ? "no status" : PlacementStatuses.Describe(last.PlacementStatus, last.Loading))}");
    }

    public void Dispose() => _http.Dispose();

    private async Task<JsonNode> GetJsonAsync(string path, CancellationToken cancel)
    {
        using var response = await _http.GetAsync(path, cancel);
        await ThrowIfFailed(response, cancel);
        return JsonNode.Parse(await response.Content.ReadAsStringAsync(cancel)) ?? throw new GatewayException((int)response.StatusCode, "empty answer");
    }

    private static StringContent Json(JsonNode body) => new(body.ToJsonString(), Encoding.UTF8, "application/json");

    private static async Task ThrowIfFailed(HttpResponseMessage response, CancellationToken cancel)
    {
        if (response.IsSuccessStatusCode)
        {
            return;
        }

        string text = await response.Content.ReadAsStringAsync(cancel);
        string message;
        try
        {
            message = JsonNode.Parse(text)?["error"]?["message"]?.GetValue<string>() ?? text;
        }
        catch (JsonException)
        {
            message = text;
        }

        throw new GatewayException((int)response.StatusCode, $"the gateway answered {(int)response.StatusCode}: {message}");
    }

    /// <summary>The data of each server-sent event until [DONE].</summary>
    private static async IAsyncEnumerable<string> Events(HttpResponseMessage response, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancel)
    {
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(cancel), Encoding.UTF8);
        while (await reader.ReadLineAsync(cancel) is string line)
        {
            if (!line.StartsWith("data: ", StringComparison.Ordinal))
            {
                continue;
            }

            string data = line["data: ".Length..];
            if (data == "[DONE]")
            {
                yield break;
            }

            yield return data;
        }
    }

    private static JobMessages.GenerationCompleted Completed(string text, JsonNode r) => new(
        new SessionId("http"),
        text,
        r["prompt_tokens"]!.GetValue<int>(),
        r["generated_tokens"]!.GetValue<int>(),
        Enum.Parse<FinishReason>(r["finish"]!.GetValue<string>(), ignoreCase: true),
        r["prefill_ms"]!.GetValue<double>(),
        r["decode_ms"]!.GetValue<double>(),
        [.. r["stages"]!.AsArray().Select(s => new StageStats(
            s!["stage"]!.GetValue<string>(),
            s["prefill_ms"]!.GetValue<double>(),
            s["decode_ms"]!.GetValue<double>(),
            s["decode_steps"]!.GetValue<int>(),
            s["decode_batch_steps"]!.GetValue<long>()))],
        [.. r["route"]!.AsArray().Select(x => x!.GetValue<string>())],
        r["failovers"]!.GetValue<int>());
}
