using System.ClientModel;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using ActorLlm.Cli.Pool;
using ActorLlm.Inference.Devices;
using ActorLlm.Inference.Execution;
using ActorLlm.Inference.Generation;
using OpenAI;
using OpenAI.Chat;
using Xunit;
using Xunit.Abstractions;

namespace ActorLlm.IntegrationTests;

/// <summary>
/// One pool for the API tests: a gateway (HTTP on a free port, a random API key) and two workers, each a real
/// `actorllm node` process, the bundled model split over the workers.
/// </summary>
public sealed class ApiPool : IAsyncLifetime
{
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(120);

    public LocalPool Pool { get; private set; } = null!;

    public string Dir { get; } = Path.Combine(Path.GetTempPath(), "actorllm-api-" + Guid.NewGuid().ToString("N")[..8]);

    public static string Model => Path.Combine(AppContext.BaseDirectory, "models", "stories260K");

    public async Task InitializeAsync()
    {
        Pool = await LocalPool.StartAsync(new LocalPoolOptions(Model, Dir), Timeout);
        await Task.WhenAll(Pool.AddWorkerAsync("worker-1", Timeout), Pool.AddWorkerAsync("worker-2", Timeout));
        using var client = new Cli.Http.GatewayClient(Pool.ApiUrl, Pool.ApiKey, Timeout);
        await client.WaitForAsync(s => s.Devices.Length == 2 && s.ServesPlan() && s.Devices.All(d => d.Serving is not null), Timeout, TimeSpan.FromMilliseconds(200));
    }

    public async Task DisposeAsync()
    {
        await Pool.DisposeAsync();
        try
        {
            Directory.Delete(Dir, recursive: true);
        }
        catch (IOException)
        {
            // A node still closing its log.
        }
    }
}

/// <summary>
/// The gateway's OpenAI-compatible API, driven by the official OpenAI .NET client where it covers the call and by raw
/// HTTP where the bytes themselves are the point (SSE framing, malformed bodies). Greedy answers are compared with what
/// one process generates from the same tokens.
/// </summary>
public sealed class ApiTests(ApiPool fixture, ITestOutputHelper output) : IClassFixture<ApiPool>
{
    private const string ModelName = "stories260K";
    private static readonly Lazy<LocalGenerator> s_local = new(() => LocalGenerator.Load(ApiPool.Model, ComputeTarget.Cpu, new KvCacheOptions(1, 512)));
    private static readonly Lock s_lock = new();

    private LocalPool Pool => fixture.Pool;

    private OpenAIClient Client(string? key = null) =>
        new(new ApiKeyCredential(key ?? Pool.ApiKey), new OpenAIClientOptions { Endpoint = new Uri(Pool.ApiUrl), NetworkTimeout = ApiPool.Timeout });

    private HttpClient Http(string? key = null)
    {
        var http = new HttpClient { BaseAddress = new Uri(Pool.ApiUrl + "/"), Timeout = ApiPool.Timeout };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key ?? Pool.ApiKey);
        return http;
    }

    private static string Expected(int[] ids, int maxTokens)
    {
        lock (s_lock)
        {
            return s_local.Value.Generate(ids, new GenerationOptions { MaxTokens = maxTokens }).Text;
        }
    }

    private static string Expected(string prompt, int maxTokens)
    {
        lock (s_lock)
        {
            return s_local.Value.Generate(prompt, new GenerationOptions { MaxTokens = maxTokens }).Text;
        }
    }

    private static int[] Rendered(string prompt)
    {
        lock (s_lock)
        {
            return Prompt.EncodeRenderedUtf8(s_local.Value.Tokenizer, Encoding.UTF8.GetBytes(prompt));
        }
    }

    /// <summary>What the gateway renders for a system and a user message (the model ships no template: the plain one).</summary>
    private static string ChatPrompt(string system, string user) =>
        Inference.Tokenization.Templates.ChatTemplate.Fallback("<s>", "</s>").Render([new("system", system), new("user", user)], addGenerationPrompt: true);

    private async Task WithLogs(Func<Task> test)
    {
        try
        {
            await test();
        }
        catch
        {
            output.WriteLine(Pool.Logs());
            throw;
        }
    }

    [Fact]
    public Task Models_lists_the_served_model() => WithLogs(async () =>
    {
        var models = await Client().GetOpenAIModelClient().GetModelsAsync();
        var model = Assert.Single(models.Value);
        Assert.Equal(ModelName, model.Id);
        Assert.Equal("actorllm", model.OwnedBy);
    });

    [Fact]
    public Task Chat_streams_what_it_answers_whole_and_what_one_process_generates() => WithLogs(async () =>
    {
        var chat = Client().GetChatClient(ModelName);
        ChatMessage[] messages = [new SystemChatMessage("You tell stories."), new UserChatMessage("Tell me about a dog.")];
        var options = new ChatCompletionOptions { Temperature = 0, MaxOutputTokenCount = 24 };

        ChatCompletion whole = await chat.CompleteChatAsync(messages, options);
        var streamed = new StringBuilder();
        ChatFinishReason? finish = null;
        await foreach (var update in chat.CompleteChatStreamingAsync(messages, options))
        {
            foreach (var part in update.ContentUpdate)
            {
                streamed.Append(part.Text);
            }

            finish ??= update.FinishReason;
        }

        Assert.Equal(whole.Content[0].Text, streamed.ToString());
        Assert.Equal(Expected(Rendered(ChatPrompt("You tell stories.", "Tell me about a dog.")), 24), whole.Content[0].Text);
        Assert.Equal(ChatFinishReason.Length, whole.FinishReason);
        Assert.Equal(ChatFinishReason.Length, finish);
        Assert.Equal(24, whole.Usage.OutputTokenCount);
        Assert.True(whole.Usage.InputTokenCount > 5);
        Assert.Equal(whole.Usage.InputTokenCount + 24, whole.Usage.TotalTokenCount);
        Assert.NotEmpty(whole.Content[0].Text);
    });

    [Fact]
    public Task Completions_match_one_process_streamed_and_whole() => WithLogs(async () =>
    {
        using var http = Http();
        string prompt = "Once upon a time, a cat";
        string expected = Expected(prompt, 30);
        var whole = await PostJson(http, "completions", new JsonObject { ["model"] = ModelName, ["prompt"] = prompt, ["max_tokens"] = 30, ["temperature"] = 0 });
        Assert.Equal(expected, whole["choices"]![0]!["text"]!.GetValue<string>());
        Assert.Equal("length", whole["choices"]![0]!["finish_reason"]!.GetValue<string>());
        Assert.Equal(30, whole["usage"]!["completion_tokens"]!.GetValue<int>());
        Assert.Equal("text_completion", whole["object"]!.GetValue<string>());

        var (_, events) = await Stream(http, "completions", new JsonObject { ["model"] = ModelName, ["prompt"] = prompt, ["max_tokens"] = 30, ["temperature"] = 0, ["stream"] = true });
        Assert.Equal(expected, string.Concat(events.Select(e => e["choices"]![0]!["text"]!.GetValue<string>())));
        Assert.Equal("length", events[^1]["choices"]![0]!["finish_reason"]!.GetValue<string>());
        Assert.All(events[..^1], e => Assert.Null(e["choices"]![0]!["finish_reason"]));
    });

    [Fact]
    public Task Stop_strings_end_the_answer_before_them_with_finish_reason_stop() => WithLogs(async () =>
    {
        using var http = Http();
        string full = Expected("Once upon a time", 40);
        string stop = full.Substring(full.IndexOf(' ', 10), 4);
        var answer = await PostJson(http, "completions", new JsonObject { ["model"] = ModelName, ["prompt"] = "Once upon a time", ["max_tokens"] = 40, ["temperature"] = 0, ["stop"] = stop });
        Assert.Equal(full[..full.IndexOf(stop, StringComparison.Ordinal)], answer["choices"]![0]!["text"]!.GetValue<string>());
        Assert.Equal("stop", answer["choices"]![0]!["finish_reason"]!.GetValue<string>());
    });

    [Fact]
    public Task Chat_logprobs_give_each_token_and_its_alternatives() => WithLogs(async () =>
    {
        var chat = Client().GetChatClient(ModelName);
        var options = new ChatCompletionOptions { Temperature = 0, MaxOutputTokenCount = 12, IncludeLogProbabilities = true, TopLogProbabilityCount = 3 };
        ChatCompletion c = await chat.CompleteChatAsync([new UserChatMessage("Hi")], options);
        Assert.Equal(12, c.ContentTokenLogProbabilities.Count);
        Assert.Equal(c.Content[0].Text, string.Concat(c.ContentTokenLogProbabilities.Select(t => t.Token)));
        foreach (var t in c.ContentTokenLogProbabilities)
        {
            Assert.True(t.LogProbability <= 0);
            Assert.Equal(3, t.TopLogProbabilities.Count);

            // Greedy: the chosen token is the most likely one.
            Assert.Equal(t.TopLogProbabilities[0].LogProbability, t.LogProbability, 5);
            Assert.True(t.TopLogProbabilities[0].LogProbability >= t.TopLogProbabilities[1].LogProbability);
        }
    });

    [Fact]
    public Task Completion_logprobs_and_n_choices_with_seeds() => WithLogs(async () =>
    {
        using var http = Http();
        var body = new JsonObject { ["model"] = ModelName, ["prompt"] = "The dog", ["max_tokens"] = 8, ["temperature"] = 1.0, ["seed"] = 7, ["n"] = 3, ["logprobs"] = 2 };
        var a = await PostJson(http, "completions", body);
        var b = await PostJson(http, "completions", body.DeepClone().AsObject());
        var choices = a["choices"]!.AsArray();
        Assert.Equal(3, choices.Count);
        Assert.Equal([0, 1, 2], choices.Select(c => c!["index"]!.GetValue<int>()));

        // A seed makes sampling repeatable, choice by choice.
        Assert.Equal(choices.Select(c => c!["text"]!.GetValue<string>()), b["choices"]!.AsArray().Select(c => c!["text"]!.GetValue<string>()));
        foreach (var c in choices)
        {
            var lp = c!["logprobs"]!;
            Assert.Equal(8, lp["tokens"]!.AsArray().Count);
            Assert.Equal(c["text"]!.GetValue<string>(), string.Concat(lp["tokens"]!.AsArray().Select(t => t!.GetValue<string>())));
            Assert.All(lp["top_logprobs"]!.AsArray(), t => Assert.InRange(t!.AsObject().Count, 1, 2));
        }

        Assert.Equal(24, a["usage"]!["completion_tokens"]!.GetValue<int>());
    });

    [Fact]
    public Task Choices_rank_candidates_as_one_process_does() => WithLogs(async () =>
    {
        using var http = Http();
        string[] candidates = [" park", " moon", " xylophone"];
        var answer = await PostJson(http, "choices", new JsonObject { ["model"] = ModelName, ["prompt"] = "Lily went to the", ["choices"] = new JsonArray([.. candidates.Select(c => (JsonNode)c)]) });
        IReadOnlyList<ChoiceScore> expected;
        lock (s_lock)
        {
            expected = s_local.Value.Score("Lily went to the", candidates);
        }

        var got = answer["choices"]!.AsArray();
        Assert.Equal(expected.Select(e => e.Choice), got.Select(g => g!["text"]!.GetValue<string>()));
        for (int i = 0; i < expected.Count; i++)
        {
            Assert.Equal(expected[i].LogProbability, got[i]!["logprob"]!.GetValue<double>(), 3);
        }
    });

    [Fact]
    public Task Sse_framing_is_byte_exact() => WithLogs(async () =>
    {
        using var http = Http();
        var (raw, events) = await Stream(http, "chat/completions", new JsonObject
        {
            ["model"] = ModelName,
            ["messages"] = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = "Hi" }),
            ["max_tokens"] = 5,
            ["temperature"] = 0,
            ["stream"] = true,
            ["stream_options"] = new JsonObject { ["include_usage"] = true },
        });

        // Each event is "data: " + one line of JSON + a blank line; the stream ends with the [DONE] event, nothing after.
        Assert.StartsWith("data: {", raw, StringComparison.Ordinal);
        Assert.EndsWith("\n\ndata: [DONE]\n\n", raw, StringComparison.Ordinal);
        var frames = raw.Split("\n\n");
        Assert.Equal("", frames[^1]);
        Assert.All(frames[..^1], f => Assert.Matches("^data: [^\n]+$", f));

        Assert.Equal("assistant", events[0]["choices"]![0]!["delta"]!["role"]!.GetValue<string>());
        var usage = events[^1];
        Assert.Empty(usage["choices"]!.AsArray());
        Assert.Equal(5, usage["usage"]!["completion_tokens"]!.GetValue<int>());
        Assert.All(events[..^1], e => Assert.True(e.AsObject().ContainsKey("usage") && e["usage"] is null));
        Assert.Equal("length", events[^2]["choices"]![0]!["finish_reason"]!.GetValue<string>());
        Assert.All(events, e => Assert.Equal("chat.completion.chunk", e["object"]!.GetValue<string>()));
    });

    [Fact]
    public Task Errors_have_their_status_and_change_nothing() => WithLogs(async () =>
    {
        using var http = Http();
        async Task Expect(HttpStatusCode status, string path, HttpContent content, string? param = null)
        {
            // Expect: 100-continue, as curl sends for large bodies: an oversized one is refused before it is uploaded
            // (without it the gateway's early 413 can meet a client still uploading, a broken pipe on the client's side).
            using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = content };
            request.Headers.ExpectContinue = true;
            using var response = await http.SendAsync(request);
            string text = await response.Content.ReadAsStringAsync();
            Assert.True(status == response.StatusCode, $"{path}: expected {status}, got {response.StatusCode}: {text}");
            var error = JsonNode.Parse(text)!["error"]!;
            Assert.False(string.IsNullOrEmpty(error["message"]!.GetValue<string>()));
            Assert.NotNull(error["type"]);
            if (param is not null)
            {
                Assert.Equal(param, error["param"]!.GetValue<string>());
            }
        }

        StringContent Json(string s) => new(s, Encoding.UTF8, "application/json");
        await Expect(HttpStatusCode.BadRequest, "completions", Json("{not json"));
        await Expect(HttpStatusCode.BadRequest, "completions", Json("[1, 2]"));
        await Expect(HttpStatusCode.BadRequest, "completions", Json($$"""{"model": "{{ModelName}}"}"""), "prompt");
        await Expect(HttpStatusCode.BadRequest, "completions", Json($$"""{"model": "{{ModelName}}", "prompt": "a", "temperature": 5}"""), "temperature");
        await Expect(HttpStatusCode.BadRequest, "chat/completions", Json($$"""{"model": "{{ModelName}}", "messages": [{"role": "wizard", "content": "a"}]}"""), "messages[0].role");
        await Expect(HttpStatusCode.BadRequest, "completions", new ByteArrayContent([.. "{\"model\": \"stories260K\", \"prompt\": \""u8.ToArray(), 0xC3, 0x28, .. "\"}"u8.ToArray()]) { Headers = { ContentType = new MediaTypeHeaderValue("application/json") } });
        await Expect(HttpStatusCode.BadRequest, "completions", Json($$"""{"model": "{{ModelName}}", "prompt": "{{string.Concat(Enumerable.Repeat("a b ", 400))}}", "max_tokens": 4}"""));
        await Expect(HttpStatusCode.NotFound, "completions", Json("""{"model": "gpt-4", "prompt": "a"}"""), "model");
        await Expect(HttpStatusCode.NotFound, "engines", Json("{}"));
        await Expect(HttpStatusCode.RequestEntityTooLarge, "completions", Json($$"""{"model": "{{ModelName}}", "prompt": "{{new string('a', 1100 * 1024)}}"}"""));

        // The official client surfaces the same errors.
        var error = await Assert.ThrowsAsync<ClientResultException>(() => Client().GetChatClient("gpt-4").CompleteChatAsync([new UserChatMessage("Hi")]));
        Assert.Equal(404, error.Status);

        // And the gateway still serves.
        var ok = await PostJson(http, "completions", new JsonObject { ["model"] = ModelName, ["prompt"] = "Once", ["max_tokens"] = 3, ["temperature"] = 0 });
        Assert.Equal(Expected("Once", 3), ok["choices"]![0]!["text"]!.GetValue<string>());
    });

    [Fact]
    public Task Auth_refuses_no_key_and_a_wrong_key_and_never_logs_keys() => WithLogs(async () =>
    {
        string wrong = "sk-wrong-" + Guid.NewGuid().ToString("N");
        var refused = await Assert.ThrowsAsync<ClientResultException>(() => Client(wrong).GetChatClient(ModelName).CompleteChatAsync([new UserChatMessage("Hi")]));
        Assert.Equal(401, refused.Status);

        using var anonymous = new HttpClient { BaseAddress = new Uri(Pool.ApiUrl + "/") };
        using var none = await anonymous.GetAsync("models");
        Assert.Equal(HttpStatusCode.Unauthorized, none.StatusCode);
        Assert.Equal("invalid_api_key", JsonNode.Parse(await none.Content.ReadAsStringAsync())!["error"]!["code"]!.GetValue<string>());

        var served = await Client().GetOpenAIModelClient().GetModelsAsync();
        Assert.Single(served.Value);

        foreach (var node in Pool.Nodes)
        {
            string log = File.ReadAllText(node.LogPath);
            Assert.DoesNotContain(Pool.ApiKey, log, StringComparison.Ordinal);
            Assert.DoesNotContain(wrong, log, StringComparison.Ordinal);
        }
    });

    [Fact]
    public Task A_client_that_disconnects_mid_stream_ends_its_job_and_frees_the_stages() => WithLogs(async () =>
    {
        // A client that goes away: no draining of the rest of the response to keep the connection (HttpClient's default).
        using var http = new HttpClient(new SocketsHttpHandler { MaxResponseDrainSize = 0 }) { BaseAddress = new Uri(Pool.ApiUrl + "/"), Timeout = ApiPool.Timeout };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Pool.ApiKey);
        using var request = new HttpRequestMessage(HttpMethod.Post, "completions")
        {
            Content = new StringContent(new JsonObject { ["model"] = ModelName, ["prompt"] = "Once", ["max_tokens"] = 400, ["ignore_eos"] = true, ["stream"] = true }.ToJsonString(), Encoding.UTF8, "application/json"),
        };
        using (var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead))
        {
            response.EnsureSuccessStatusCode();
            using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
            for (int events = 0; events < 3;)
            {
                events += (await reader.ReadLineAsync())!.StartsWith("data: ", StringComparison.Ordinal) ? 1 : 0;
            }
        }

        // The connection is gone a few tokens into a 400-token job: the session hears its client is gone (and says so)...
        using var logged = new CancellationTokenSource(ApiPool.Timeout);
        while (!Pool["gateway"].Tail(400).Contains("client gone", StringComparison.Ordinal))
        {
            await Task.Delay(50, logged.Token);
        }

        // ...and every stage frees the job's cache.
        using var client = new Cli.Http.GatewayClient(Pool.ApiUrl, Pool.ApiKey, ApiPool.Timeout);
        await client.WaitForAsync(s => s.Devices.All(d => d.ActiveSessions == 0), ApiPool.Timeout, TimeSpan.FromMilliseconds(100));
    });

    [Fact]
    public Task Sixty_four_concurrent_streams_all_complete_in_order() => WithLogs(async () =>
    {
        using var http = Http();
        string[] prompts = [.. Enumerable.Range(0, 8).Select(i => $"Once upon a time, child {i}")];
        var expected = prompts.Select(p => Expected(p, 16)).ToArray();
        var streams = await Task.WhenAll(Enumerable.Range(0, 64).Select(async i =>
        {
            var (raw, events) = await Stream(http, "completions", new JsonObject { ["model"] = ModelName, ["prompt"] = prompts[i % 8], ["max_tokens"] = 16, ["temperature"] = 0, ["stream"] = true });
            return (i, raw, events);
        }));
        foreach (var (i, raw, events) in streams)
        {
            Assert.EndsWith("data: [DONE]\n\n", raw, StringComparison.Ordinal);
            Assert.Equal(expected[i % 8], string.Concat(events.Select(e => e["choices"]![0]!["text"]!.GetValue<string>())));
            Assert.Equal("length", events[^1]["choices"]![0]!["finish_reason"]!.GetValue<string>());
            Assert.Single(events.Select(e => e["id"]!.GetValue<string>()).Distinct());
        }
    });

    private static async Task<JsonNode> PostJson(HttpClient http, string path, JsonObject body)
    {
        using var response = await http.PostAsync(path, new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json"));
        string text = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"{path}: {response.StatusCode}: {text}");
        return JsonNode.Parse(text)!;
    }

    /// <summary>A streamed answer: the raw body and its events' JSON (the [DONE] event not included).</summary>
    private static async Task<(string Raw, List<JsonNode> Events)> Stream(HttpClient http, string path, JsonObject body)
    {
        using var response = await http.PostAsync(path, new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json"));
        string raw = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"{path}: {response.StatusCode}: {raw}");
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        var events = raw.Split("\n\n", StringSplitOptions.RemoveEmptyEntries)
            .Select(f => f["data: ".Length..])
            .Where(d => d != "[DONE]")
            .Select(d => JsonNode.Parse(d)!)
            .ToList();
        return (raw, events);
    }
}

/// <summary>The gateway's admission and placement answers: 503 before any route exists, 429 over its job limit.</summary>
public sealed class ApiAdmissionTests(ITestOutputHelper output) : PoolTestBase(output)
{
    [Fact]
    public Task No_route_is_503_and_a_full_gateway_is_429_with_retry_after() => WithLogs(async () =>
    {
        var pool = await LocalPool.StartAsync(
            new LocalPoolOptions(Model, Path.Combine(WorkDir, "admission"), GatewayArgs: ["--set", "actorllm.http.max-jobs=1"]), Timeout);
        await using var _ = pool;
        using var http = new HttpClient { BaseAddress = new Uri(pool.ApiUrl + "/"), Timeout = Timeout };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", pool.ApiKey);
        string Body(int maxTokens, bool stream) =>
            new JsonObject { ["model"] = "stories260K", ["prompt"] = "Once", ["max_tokens"] = maxTokens, ["ignore_eos"] = true, ["stream"] = stream }.ToJsonString();

        using (var noRoute = await http.PostAsync("completions", new StringContent(Body(4, false), Encoding.UTF8, "application/json")))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, noRoute.StatusCode);
            Assert.NotNull(noRoute.Headers.RetryAfter);
        }

        await pool.AddWorkerAsync("worker-1", Timeout);
        using var status = new Cli.Http.GatewayClient(pool.ApiUrl, pool.ApiKey, Timeout);
        await status.WaitForAsync(s => s.Devices.Length == 1 && s.ServesPlan(), Timeout, TimeSpan.FromMilliseconds(200));

        // One long job holds the gateway's only slot while a second asks.
        using var first = new HttpRequestMessage(HttpMethod.Post, "completions") { Content = new StringContent(Body(400, true), Encoding.UTF8, "application/json") };
        using var running = await http.SendAsync(first, HttpCompletionOption.ResponseHeadersRead);
        running.EnsureSuccessStatusCode();
        using (var full = await http.PostAsync("completions", new StringContent(Body(4, false), Encoding.UTF8, "application/json")))
        {
            Assert.Equal(HttpStatusCode.TooManyRequests, full.StatusCode);
            Assert.Equal(TimeSpan.FromSeconds(1), full.Headers.RetryAfter?.Delta);
            Assert.Equal("rate_limit_error", JsonNode.Parse(await full.Content.ReadAsStringAsync())!["error"]!["type"]!.GetValue<string>());
        }

        // The first job's stream is whole.
        string raw = await running.Content.ReadAsStringAsync();
        Assert.EndsWith("data: [DONE]\n\n", raw, StringComparison.Ordinal);
    });
}
