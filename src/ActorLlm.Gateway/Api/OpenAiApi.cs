using System.Text;
using ActorLlm.Cluster.Hosting;
using ActorLlm.Inference.Generation;
using ActorLlm.Protocol;
using ActorLlm.Protocol.Messages;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace ActorLlm.Gateway.Api;

/// <summary>
/// The OpenAI-compatible API under <c>/v1</c>: models, completions, chat completions (each streamed as server-sent
/// events or answered whole), and choices (scoring predefined answers). Handlers parse and check the request
/// (<see cref="ApiRequests"/>), start its jobs (<see cref="PoolJobs"/>), and shape what the sessions answer
/// (<see cref="ApiResponses"/>); every error is OpenAI's error object with its status.
/// </summary>
public static class OpenAiApi
{
    private enum Kind
    {
        Completion,
        Chat,
    }

    public static IEndpointRouteBuilder MapOpenAiApi(this IEndpointRouteBuilder app)
    {
        var v1 = app.MapGroup("/v1");
        v1.MapGet("/models", (ServedModel model) => Results.Json(ApiResponses.Models(model), ApiResponses.Json));
        v1.MapGet("/models/{name}", (string name, ServedModel model) =>
        {
            model.Require(name);
            return Results.Json(ApiResponses.ModelObject(model), ApiResponses.Json);
        });
        v1.MapPost("/completions", Completions);
        v1.MapPost("/chat/completions", ChatCompletions);
        v1.MapPost("/choices", Choices);
        return app;
    }

    private static async Task Completions(HttpContext http)
    {
        var (model, settings) = Services(http);
        var request = ApiRequests.Completion(await Body(http), settings.MaxN, WireSampling.MaxLogprobs);
        model.Require(request.Generation.Model);
        var prompts = request.Prompts.Select(p => (Encoding.UTF8.GetBytes(p), false)).ToArray();
        await Generate(http, Kind.Completion, request.Generation, prompts);
    }

    private static async Task ChatCompletions(HttpContext http)
    {
        var (model, settings) = Services(http);
        var request = ApiRequests.Chat(await Body(http), settings.MaxN, WireSampling.MaxLogprobs);
        model.Require(request.Generation.Model);
        string prompt = model.RenderChat(request.Messages, true);
        await Generate(http, Kind.Chat, request.Generation, [(Encoding.UTF8.GetBytes(prompt), true)]);
    }

    private static async Task Choices(HttpContext http)
    {
        var (model, settings) = Services(http);
        var wire = http.RequestServices.GetRequiredService<ActorLlmSettings>().Wire;
        var request = ApiRequests.Choices(await Body(http), wire.MaxChoices);
        model.Require(request.Model);
        bool rendered = request.Messages is not null;
        string prompt = request.Messages is { } messages ? model.RenderChat(messages, true) : request.Prompt!;
        var jobs = http.RequestServices.GetRequiredService<PoolJobs>();
        await jobs.RequireRouteAsync(http.RequestAborted);
        byte[] utf8 = Encoding.UTF8.GetBytes(prompt);
        using var timeout = Timeout(http, settings);
        using var running = jobs.Start([client => new JobMessages.StartScoring(SessionId.New(), utf8, request.Choices, client, rendered)]);
        JobEvent last;
        try
        {
            do
            {
                last = await running.Events.ReadAsync(timeout.Token);
            }
            while (!last.Final);
        }
        catch (OperationCanceledException) when (!http.RequestAborted.IsCancellationRequested)
        {
            throw TimedOut(settings);
        }

        if (last is JobEvent.Failed f)
        {
            throw Failure(f.Failure);
        }

        var scored = ((JobEvent.Scored)last).Result;
        int promptTokens = Inference.Generation.Prompt.EncodeUtf8(model.Tokenizer, utf8, rendered).Length;
        await Results.Json(new
        {
            id = "choices-" + Guid.NewGuid().ToString("N"),
            @object = "choices",
            created = DateTimeOffset.UtcNow.ToUnixTimeSeconds(),
            model = model.Name,
            choices = scored.Scores.Select(s => new { index = s.Index, text = s.Choice, logprob = ApiResponses.Finite(s.LogProbability), tokens = s.Tokens }).ToArray(),
            usage = new { prompt_tokens = promptTokens, total_tokens = promptTokens + scored.Scores.Sum(s => s.Tokens) },
        }, ApiResponses.Json).ExecuteAsync(http);
    }

    /// <summary>One generation request: n choices per prompt, each its own job; streamed or answered whole.</summary>
    private static async Task Generate(HttpContext http, Kind kind, GenerationRequest g, IReadOnlyList<(byte[] Prompt, bool Rendered)> prompts)
    {
        var (model, settings) = Services(http);
        var jobs = http.RequestServices.GetRequiredService<PoolJobs>();
        await jobs.RequireRouteAsync(http.RequestAborted);
        // What the request left out comes from the model's generation_config.json, then the API's own defaults.
        var sampling = model.Defaults.Fill(
            new SamplingRequest(g.MaxTokens, g.Temperature, g.TopP, g.TopK, g.RepetitionPenalty),
            new SettledSampling(settings.DefaultMaxTokens, Temperature: 1f, TopP: 1f, TopK: 0, RepetitionPenalty: 1f));
        int maxTokens = sampling.MaxTokens;
        ulong baseSeed = g.Seed ?? (ulong)Random.Shared.NextInt64();
        var starts = new List<Func<Akka.Actor.IActorRef, object>>();
        for (int p = 0; p < prompts.Count; p++)
        {
            for (int c = 0; c < g.N; c++)
            {
                var (prompt, rendered) = prompts[p];
                ulong seed = baseSeed + (ulong)((p * g.N) + c);
                var options = new WireGenerationOptions(maxTokens, new WireSampling(sampling.Temperature, sampling.TopK, sampling.TopP, sampling.RepetitionPenalty, seed, g.Logprobs), g.Stop, StopAtEos: !g.IgnoreEos, TrustedOnly: g.TrustedOnly);
                starts.Add(client => new JobMessages.StartGeneration(SessionId.New(), prompt, options, client, rendered));
            }
        }

        using var timeout = Timeout(http, settings);
        using var running = jobs.Start(starts);
        using var watch = http.RequestServices.GetRequiredService<Dashboard.ApiMetrics>().Generation(g.Stream, starts.Count);
        var answer = new Answer(kind, g, model, starts.Count, watch);
        try
        {
            if (g.Stream)
            {
                await Stream(http, running, answer, timeout.Token);
            }
            else
            {
                await Whole(http, running, answer, timeout.Token);
            }
        }
        catch (OperationCanceledException) when (http.RequestAborted.IsCancellationRequested)
        {
            // The client went away: disposing the jobs stops their listeners, and their sessions free the stages.
        }
        catch (OperationCanceledException)
        {
            throw TimedOut(settings);
        }
    }

    private static async Task Whole(HttpContext http, PoolJobs.Jobs running, Answer answer, CancellationToken cancel)
    {
        while (!answer.AllDone)
        {
            var e = await running.Events.ReadAsync(cancel);
            if (e is JobEvent.Failed f)
            {
                throw Failure(f.Failure);
            }

            answer.Take(e);
        }

        await Results.Json(answer.Whole(), ApiResponses.Json).ExecuteAsync(http);
    }

    /// <summary>
    /// Streams the choices. Nothing is sent before every job has been routed (or has failed): a request the pool
    /// refuses (a prompt over the context) still gets its error status, not a stream that breaks off.
    /// </summary>
    private static async Task Stream(HttpContext http, PoolJobs.Jobs running, Answer answer, CancellationToken cancel)
    {
        var early = new List<JobEvent>();
        var started = new HashSet<int>();
        while (started.Count < running.Count)
        {
            var e = await running.Events.ReadAsync(cancel);
            if (e is JobEvent.Failed f)
            {
                throw Failure(f.Failure);
            }

            started.Add(e.Choice);
            early.Add(e);
        }

        var sse = new SseWriter(http.Response);
        await sse.StartAsync(cancel);
        foreach (var first in answer.FirstChunks())
        {
            await sse.EventAsync(first, cancel);
        }

        foreach (var e in early)
        {
            foreach (var chunk in answer.Take(e))
            {
                await sse.EventAsync(chunk, cancel);
            }
        }

        while (!answer.AllDone)
        {
            var e = await running.Events.ReadAsync(cancel);
            if (e is JobEvent.Failed f)
            {
                // Headers are gone: the error goes in the stream, as OpenAI-compatible servers send it, and the stream ends.
                var error = Failure(f.Failure);
                await sse.RawEventAsync(error.Body(), cancel);
                return;
            }

            foreach (var chunk in answer.Take(e))
            {
                await sse.EventAsync(chunk, cancel);
            }
        }

        if (answer.Request.IncludeUsage)
        {
            await sse.EventAsync(answer.UsageChunk(), cancel);
        }

        await sse.DoneAsync(cancel);
    }

    /// <summary>A job's failure as the API's error: the request's fault is 400, no route 503, the pool's 500.</summary>
    private static ApiException Failure(JobMessages.JobFailed failure) => failure.Kind switch
    {
        JobFailure.InvalidRequest => ApiException.BadRequest(failure.Reason),
        JobFailure.NoRoute => new ApiException(StatusCodes.Status503ServiceUnavailable, failure.Reason, ApiException.Unavailable, code: "no_route") { RetryAfterSeconds = 5 },
        _ => new ApiException(StatusCodes.Status500InternalServerError, $"the pool could not finish the job: {failure.Reason}", ApiException.Server),
    };

    private static ApiException TimedOut(HttpSettings settings) =>
        new(StatusCodes.Status504GatewayTimeout, $"the job did not finish within http.job-timeout ({settings.JobTimeout})", ApiException.Server, code: "timeout");

    private static CancellationTokenSource Timeout(HttpContext http, HttpSettings settings)
    {
        var cts = CancellationTokenSource.CreateLinkedTokenSource(http.RequestAborted);
        cts.CancelAfter(settings.JobTimeout);
        return cts;
    }

    private static (ServedModel Model, HttpSettings Settings) Services(HttpContext http) =>
        (http.RequestServices.GetRequiredService<ServedModel>(), http.RequestServices.GetRequiredService<HttpSettings>());

    /// <summary>The whole body (Kestrel refuses one over http.max-body-bytes with 413 while it is read).</summary>
    private static async Task<byte[]> Body(HttpContext http)
    {
        if (http.Request.ContentType is { } type && !type.StartsWith("application/json", StringComparison.OrdinalIgnoreCase))
        {
            throw new ApiException(StatusCodes.Status415UnsupportedMediaType, $"the body must be application/json, got '{type}'");
        }

        // A declared length over the limit is refused before a byte is read: a client that sent "Expect: 100-continue"
        // (curl does for large bodies) then never uploads the body, and none is cut off mid-upload.
        long limit = http.RequestServices.GetRequiredService<HttpSettings>().MaxBodyBytes;
        if (http.Request.ContentLength > limit)
        {
            throw new ApiException(StatusCodes.Status413PayloadTooLarge, $"the request body is {http.Request.ContentLength} bytes, more than http.max-body-bytes ({limit} bytes)");
        }

        using var buffer = new MemoryStream();
        await http.Request.Body.CopyToAsync(buffer, http.RequestAborted);
        return buffer.ToArray();
    }

    /// <summary>The answer taking shape: every choice's text, tokens and end, and the chunks each event streams.</summary>
    private sealed class Answer(Kind kind, GenerationRequest request, ServedModel model, int choices, Dashboard.ApiMetrics.GenerationWatch watch)
    {
        private readonly string _id = (kind == Kind.Chat ? "chatcmpl-" : "cmpl-") + Guid.NewGuid().ToString("N");
        private readonly long _created = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        private readonly StringBuilder[] _text = [.. Enumerable.Range(0, choices).Select(_ => new StringBuilder())];
        private readonly List<SampledToken>[] _tokens = [.. Enumerable.Range(0, choices).Select(_ => new List<SampledToken>())];
        private readonly JobMessages.GenerationCompleted?[] _done = new JobMessages.GenerationCompleted?[choices];

        public GenerationRequest Request => request;

        public bool AllDone => _done.All(d => d is not null);

        private string ObjectName => kind == Kind.Chat ? (request.Stream ? "chat.completion.chunk" : "chat.completion") : "text_completion";

        private bool WantLogprobs => request.Logprobs >= 0;

        /// <summary>Chat streams open each choice with its role.</summary>
        public IEnumerable<object> FirstChunks() => kind == Kind.Chat
            ? Enumerable.Range(0, choices).Select(i => Chunk(new { index = i, delta = new { role = "assistant", content = "" }, logprobs = (object?)null, finish_reason = (string?)null }))
            : [];

        /// <summary>Takes an event; the chunks it streams.</summary>
        public IEnumerable<object> Take(JobEvent e)
        {
            watch.Observe(e);
            switch (e)
            {
                case JobEvent.Text t:
                    int offset = _text[t.Choice].Length;
                    _text[t.Choice].Append(t.Delta.Text);
                    var tokens = t.Delta.Tokens ?? [];
                    _tokens[t.Choice].AddRange(tokens);
                    if (t.Delta.Text.Length == 0 && tokens.Length == 0)
                    {
                        return [];
                    }

                    return [Chunk(ChoiceDelta(t.Choice, t.Delta.Text, tokens, offset, null))];
                case JobEvent.Generated g:
                    _done[g.Choice] = g.Result;
                    string finish = ApiResponses.FinishReason(g.Result.FinishReason);
                    return [Chunk(kind == Kind.Chat
                        ? new { index = g.Choice, delta = new { }, logprobs = (object?)null, finish_reason = finish, actorllm = ApiResponses.Report(g.Result) }
                        : new { index = g.Choice, text = "", logprobs = (object?)null, finish_reason = finish, actorllm = ApiResponses.Report(g.Result) })];
                default:
                    return [];
            }
        }

        public object UsageChunk() => new { id = _id, @object = ObjectName, created = _created, model = model.Name, choices = Array.Empty<object>(), usage = Usage() };

        public object Whole() => new
        {
            id = _id,
            @object = ObjectName,
            created = _created,
            model = model.Name,
            choices = Enumerable.Range(0, choices).Select(WholeChoice).ToArray(),
            usage = Usage(),
        };

        /// <summary>One finished choice: a chat message or a completion's text, with its logprobs, end and report.</summary>
        private object WholeChoice(int i)
        {
            var done = _done[i]!;
            string finish = ApiResponses.FinishReason(done.FinishReason);
            return kind == Kind.Chat
                ? new
                {
                    index = i,
                    message = new { role = "assistant", content = _text[i].ToString(), refusal = (string?)null },
                    logprobs = WantLogprobs ? ApiResponses.ChatLogprobs(model.Tokenizer, _tokens[i]) : null,
                    finish_reason = finish,
                    actorllm = ApiResponses.Report(done),
                }
                : new
                {
                    index = i,
                    text = _text[i].ToString(),
                    logprobs = WantLogprobs ? ApiResponses.CompletionLogprobs(model.Tokenizer, _tokens[i], 0, request.Logprobs > 0) : null,
                    finish_reason = finish,
                    actorllm = ApiResponses.Report(done),
                };
        }

        private object ChoiceDelta(int choice, string text, IReadOnlyList<SampledToken> tokens, int offset, string? finish)
        {
            object? logprobs = !WantLogprobs
                ? null
                : kind == Kind.Chat ? ApiResponses.ChatLogprobs(model.Tokenizer, tokens) : ApiResponses.CompletionLogprobs(model.Tokenizer, tokens, offset, request.Logprobs > 0);
            return kind == Kind.Chat
                ? new { index = choice, delta = new { content = text }, logprobs, finish_reason = finish }
                : new { index = choice, text, logprobs, finish_reason = finish };
        }

        private object Chunk(object choice) => request.IncludeUsage
            ? new { id = _id, @object = ObjectName, created = _created, model = model.Name, choices = new[] { choice }, usage = (object?)null }
            : new { id = _id, @object = ObjectName, created = _created, model = model.Name, choices = new[] { choice } };

        /// <summary>Prompt tokens once per prompt (its n choices share it), completion tokens of every choice.</summary>
        private object Usage()
        {
            int prompt = 0;
            int completion = 0;
            for (int i = 0; i < choices; i++)
            {
                if (_done[i] is { } d)
                {
                    prompt += i % request.N == 0 ? d.PromptTokens : 0;
                    completion += d.GeneratedTokens;
                }
            }

            return ApiResponses.Usage(prompt, completion);
        }
    }
}
