using System.Text.Json;
using System.Text.Unicode;
using ActorLlm.Inference.Tokenization.Templates;

namespace ActorLlm.Gateway.Api;

/// <summary>What a completion or chat request asks of its generation, validated (the API's defaults filled in).</summary>
/// <param name="MaxTokens">Null: the model's generation_config.json max_new_tokens, else the gateway's default (http.default-max-tokens).</param>
/// <param name="Temperature">Null (and so top_p, top_k, repetition_penalty): the model's generation_config.json, else OpenAI's default (1, 1, off, off).</param>
/// <param name="Seed">Null: a random seed per choice (as OpenAI, without a seed, samples differently each time).</param>
/// <param name="Logprobs">-1: none; else the number of alternatives per token (0 = only the chosen token's).</param>
public sealed record GenerationRequest(
    string Model,
    int? MaxTokens,
    float? Temperature,
    float? TopP,
    int? TopK,
    float? RepetitionPenalty,
    ulong? Seed,
    string[] Stop,
    int N,
    int Logprobs,
    bool Stream,
    bool IncludeUsage,
    bool IgnoreEos = false,
    bool TrustedOnly = false);

/// <summary><c>POST /v1/completions</c>: one or more prompts (each gets <see cref="GenerationRequest.N"/> choices).</summary>
public sealed record CompletionRequest(GenerationRequest Generation, string[] Prompts);

/// <summary><c>POST /v1/chat/completions</c>.</summary>
public sealed record ChatRequest(GenerationRequest Generation, IReadOnlyList<ChatMessage> Messages);

/// <summary>
/// <c>POST /v1/choices</c>: score each candidate as the continuation of a prompt (or of chat messages, rendered with
/// the generation prompt), answering every candidate's log-probability, best first.
/// </summary>
public sealed record ChoicesRequest(string Model, string? Prompt, IReadOnlyList<ChatMessage>? Messages, string[] Choices);

/// <summary>
/// Reads the API's JSON bodies into requests, refusing what is malformed or out of range with a 400 that names the
/// field (<see cref="ApiException.Param"/>), as OpenAI does. Pure: bytes in, a request or an <see cref="ApiException"/> out.
/// Fields OpenAI defines that this pool cannot honour (tools, a JSON response format, penalties, echo) are refused
/// rather than silently ignored; fields that change nothing here (user, metadata, store) are accepted.
/// </summary>
public static class ApiRequests
{
    public const int MaxStops = 16;

    public static CompletionRequest Completion(ReadOnlySpan<byte> body, int maxN, int maxLogprobs)
    {
        using var doc = Parse(body);
        var root = doc.RootElement;
        Unsupported(root, "suffix", "echo", "best_of");
        var prompt = Field(root, "prompt") ?? throw ApiException.BadRequest("'prompt' is required", "prompt");
        string[] prompts = prompt.ValueKind switch
        {
            JsonValueKind.String => [prompt.GetString()!],
            JsonValueKind.Array when prompt.GetArrayLength() > 0 && prompt.EnumerateArray().All(e => e.ValueKind == JsonValueKind.String) =>
                [.. prompt.EnumerateArray().Select(e => e.GetString()!)],
            JsonValueKind.Array => throw ApiException.BadRequest("'prompt' must be a string or a non-empty array of strings (token-id prompts are not supported)", "prompt"),
            _ => throw ApiException.BadRequest("'prompt' must be a string or an array of strings", "prompt"),
        };
        int logprobs = OptionalInt(root, "logprobs") is int k
            ? (k >= 0 && k <= maxLogprobs ? k : throw ApiException.BadRequest($"'logprobs' must be 0..{maxLogprobs}", "logprobs"))
            : -1;
        return new CompletionRequest(Generation(root, maxN, logprobs), prompts);
    }

    public static ChatRequest Chat(ReadOnlySpan<byte> body, int maxN, int maxLogprobs)
    {
        using var doc = Parse(body);
        var root = doc.RootElement;
        Unsupported(root, "audio", "prediction");
        if (Field(root, "tools") is { ValueKind: JsonValueKind.Array } tools && tools.GetArrayLength() > 0)
        {
            throw ApiException.BadRequest("tools and function calling are not supported by this server", "tools");
        }

        if (Field(root, "response_format") is { ValueKind: JsonValueKind.Object } format && Str(format, "type", "response_format.type") is string type && type != "text")
        {
            throw ApiException.BadRequest($"response_format '{type}' is not supported (only 'text')", "response_format");
        }

        var messages = Messages(root, "messages");
        bool wantLogprobs = OptionalBool(root, "logprobs") ?? false;
        int? top = OptionalInt(root, "top_logprobs");
        if (top is int t && (t < 0 || t > maxLogprobs))
        {
            throw ApiException.BadRequest($"'top_logprobs' must be 0..{maxLogprobs}", "top_logprobs");
        }

        if (top is not null && !wantLogprobs)
        {
            throw ApiException.BadRequest("'top_logprobs' needs 'logprobs': true", "top_logprobs");
        }

        return new ChatRequest(Generation(root, maxN, wantLogprobs ? top ?? 0 : -1), messages);
    }

    public static ChoicesRequest Choices(ReadOnlySpan<byte> body, int maxChoices)
    {
        using var doc = Parse(body);
        var root = doc.RootElement;
        string model = Model(root);
        string? prompt = Field(root, "prompt") is { } p ? (p.ValueKind == JsonValueKind.String ? p.GetString() : throw ApiException.BadRequest("'prompt' must be a string", "prompt")) : null;
        var messages = Field(root, "messages") is not null ? Messages(root, "messages") : null;
        if ((prompt is null) == (messages is null))
        {
            throw ApiException.BadRequest("give exactly one of 'prompt' and 'messages'", prompt is null ? "prompt" : "messages");
        }

        var choices = Field(root, "choices") is { ValueKind: JsonValueKind.Array } c && c.GetArrayLength() > 0 && c.EnumerateArray().All(e => e.ValueKind == JsonValueKind.String)
            ? c.EnumerateArray().Select(e => e.GetString()!).ToArray()
            : throw ApiException.BadRequest("'choices' must be a non-empty array of strings", "choices");
        if (choices.Length > maxChoices)
        {
            throw ApiException.BadRequest($"at most {maxChoices} choices per request (actorllm.wire.max-choices), got {choices.Length}", "choices");
        }

        if (choices.Any(x => x.Length == 0))
        {
            throw ApiException.BadRequest("a choice must not be empty", "choices");
        }

        return new ChoicesRequest(model, prompt, messages, choices);
    }

    private static GenerationRequest Generation(JsonElement root, int maxN, int logprobs)
    {
        string model = Model(root);
        Unsupported(root, "logit_bias", "functions", "function_call");
        foreach (var unsupported in new[] { "presence_penalty", "frequency_penalty" })
        {
            if (OptionalNumber(root, unsupported) is double v && v != 0)
            {
                throw ApiException.BadRequest($"'{unsupported}' is not supported (use 'repetition_penalty')", unsupported);
            }
        }

        int? maxTokens = OptionalInt(root, "max_completion_tokens") ?? OptionalInt(root, "max_tokens");
        if (maxTokens is < 1)
        {
            throw ApiException.BadRequest("'max_tokens' must be at least 1", "max_tokens");
        }

        double? temperature = OptionalNumber(root, "temperature");
        if (temperature is < 0 or > 2)
        {
            throw ApiException.BadRequest("'temperature' must be between 0 and 2", "temperature");
        }

        double? topP = OptionalNumber(root, "top_p");
        if (topP is <= 0 or > 1)
        {
            throw ApiException.BadRequest("'top_p' must be in (0, 1]", "top_p");
        }

        int? topK = OptionalInt(root, "top_k");
        if (topK is < 0)
        {
            throw ApiException.BadRequest("'top_k' must be 0 (off) or more", "top_k");
        }

        double? penalty = OptionalNumber(root, "repetition_penalty");
        if (penalty is <= 0)
        {
            throw ApiException.BadRequest("'repetition_penalty' must be above 0", "repetition_penalty");
        }

        ulong? seed = Field(root, "seed") is { } s
            ? (s.ValueKind == JsonValueKind.Number && s.TryGetInt64(out long seedValue) ? unchecked((ulong)seedValue) : throw ApiException.BadRequest("'seed' must be an integer", "seed"))
            : null;
        int n = OptionalInt(root, "n") ?? 1;
        if (n < 1 || n > maxN)
        {
            throw ApiException.BadRequest($"'n' must be 1..{maxN}", "n");
        }

        bool stream = OptionalBool(root, "stream") ?? false;
        bool includeUsage = Field(root, "stream_options") is { } options
            ? (options.ValueKind == JsonValueKind.Object ? OptionalBool(options, "include_usage") ?? false : throw ApiException.BadRequest("'stream_options' must be an object", "stream_options"))
            : false;
        if (Field(root, "stream_options") is not null && !stream)
        {
            throw ApiException.BadRequest("'stream_options' is only allowed with 'stream': true", "stream_options");
        }

        bool ignoreEos = OptionalBool(root, "ignore_eos") ?? false;
        bool trustedOnly = OptionalBool(root, "trusted_only") ?? false;
        return new GenerationRequest(model, maxTokens, (float?)temperature, (float?)topP, topK, (float?)penalty, seed, Stops(root), n, logprobs, stream, includeUsage, ignoreEos, trustedOnly);
    }

    private static string[] Stops(JsonElement root)
    {
        var stop = Field(root, "stop");
        string[] stops = stop?.ValueKind switch
        {
            null => [],
            JsonValueKind.String => [stop.Value.GetString()!],
            JsonValueKind.Array when stop.Value.EnumerateArray().All(e => e.ValueKind == JsonValueKind.String) => [.. stop.Value.EnumerateArray().Select(e => e.GetString()!)],
            _ => throw ApiException.BadRequest("'stop' must be a string or an array of strings", "stop"),
        };
        if (stops.Length > MaxStops)
        {
            throw ApiException.BadRequest($"at most {MaxStops} stop sequences", "stop");
        }

        return stops.Any(s => s.Length == 0) ? throw ApiException.BadRequest("a stop sequence must not be empty", "stop") : stops;
    }

    private static List<ChatMessage> Messages(JsonElement root, string name)
    {
        if (Field(root, name) is not { ValueKind: JsonValueKind.Array } array || array.GetArrayLength() == 0)
        {
            throw ApiException.BadRequest($"'{name}' must be a non-empty array", name);
        }

        var messages = new List<ChatMessage>();
        int i = 0;
        foreach (var m in array.EnumerateArray())
        {
            string where = $"{name}[{i++}]";
            if (m.ValueKind != JsonValueKind.Object)
            {
                throw ApiException.BadRequest($"'{where}' must be an object", where);
            }

            string role = Str(m, "role", $"{where}.role") ?? throw ApiException.BadRequest($"'{where}.role' is required", $"{where}.role");
            if (role is not ("system" or "developer" or "user" or "assistant" or "tool"))
            {
                throw ApiException.BadRequest($"'{where}.role' must be system, developer, user, assistant or tool, got '{role}'", $"{where}.role");
            }

            messages.Add(new ChatMessage(role == "developer" ? "system" : role, Content(m, $"{where}.content")));
        }

        return messages;
    }

    /// <summary>A message's content: a string, null (an assistant turn with tool calls), or text parts joined.</summary>
    private static string Content(JsonElement message, string where)
    {
        var content = Field(message, "content");
        switch (content?.ValueKind)
        {
            case null:
                return "";
            case JsonValueKind.String:
                return content.Value.GetString()!;
            case JsonValueKind.Array:
                var text = new System.Text.StringBuilder();
                foreach (var part in content.Value.EnumerateArray())
                {
                    if (part.ValueKind != JsonValueKind.Object || Str(part, "type", where) is not string type)
                    {
                        throw ApiException.BadRequest($"'{where}' parts must be objects with a 'type'", where);
                    }

                    if (type != "text")
                    {
                        throw ApiException.BadRequest($"'{where}': content parts of type '{type}' are not supported (text only)", where);
                    }

                    text.Append(Str(part, "text", where) ?? throw ApiException.BadRequest($"'{where}': a text part needs 'text'", where));
                }

                return text.ToString();
            default:
                throw ApiException.BadRequest($"'{where}' must be a string or an array of text parts", where);
        }
    }

    private static string Model(JsonElement root) =>
        Str(root, "model", "model") is { Length: > 0 } model ? model : throw ApiException.BadRequest("'model' is required", "model");

    /// <summary>The body as JSON: it must be valid UTF-8 and one JSON object.</summary>
    private static JsonDocument Parse(ReadOnlySpan<byte> body)
    {
        if (!Utf8.IsValid(body))
        {
            throw ApiException.BadRequest("the request body is not valid UTF-8");
        }

        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(body.ToArray(), new JsonDocumentOptions { MaxDepth = 32 });
        }
        catch (JsonException e)
        {
            throw ApiException.BadRequest($"the request body is not valid JSON: {e.Message}");
        }

        if (doc.RootElement.ValueKind != JsonValueKind.Object)
        {
            doc.Dispose();
            throw ApiException.BadRequest("the request body must be a JSON object");
        }

        return doc;
    }

    /// <summary>A field, or null when absent or JSON null (OpenAI clients send null for "not set").</summary>
    private static JsonElement? Field(JsonElement obj, string name) =>
        obj.TryGetProperty(name, out var value) && value.ValueKind != JsonValueKind.Null ? value : null;

    private static string? Str(JsonElement obj, string name, string param) => Field(obj, name) switch
    {
        null => null,
        { ValueKind: JsonValueKind.String } s => s.GetString(),
        _ => throw ApiException.BadRequest($"'{param}' must be a string", param),
    };

    private static int? OptionalInt(JsonElement obj, string name) => Field(obj, name) switch
    {
        null => null,
        { ValueKind: JsonValueKind.Number } n when n.TryGetInt32(out int v) => v,
        _ => throw ApiException.BadRequest($"'{name}' must be an integer", name),
    };

    private static double? OptionalNumber(JsonElement obj, string name) => Field(obj, name) switch
    {
        null => null,
        { ValueKind: JsonValueKind.Number } n => n.GetDouble(),
        _ => throw ApiException.BadRequest($"'{name}' must be a number", name),
    };

    private static bool? OptionalBool(JsonElement obj, string name) => Field(obj, name) switch
    {
        null => null,
        { ValueKind: JsonValueKind.True } => true,
        { ValueKind: JsonValueKind.False } => false,
        _ => throw ApiException.BadRequest($"'{name}' must be true or false", name),
    };

    private static void Unsupported(JsonElement root, params string[] names)
    {
        foreach (var name in names)
        {
            if (Field(root, name) is { } v && !IsEmptyOrOff(v))
            {
                throw ApiException.BadRequest($"'{name}' is not supported by this server", name);
            }
        }
    }

    private static bool IsEmptyOrOff(JsonElement v) => v.ValueKind switch
    {
        JsonValueKind.False => true,
        JsonValueKind.Array => v.GetArrayLength() == 0,
        JsonValueKind.Object => !v.EnumerateObject().Any(),
        JsonValueKind.String => v.GetString()!.Length == 0,
        JsonValueKind.Number => v.TryGetInt32(out int i) && i <= 1,
        _ => false,
    };
}
