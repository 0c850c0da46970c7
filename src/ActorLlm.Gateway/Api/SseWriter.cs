using System.Text.Json;
using Microsoft.AspNetCore.Http;

namespace ActorLlm.Gateway.Api;

/// <summary>
/// Server-sent events in OpenAI's framing: each event one <c>data: JSON</c> line and a blank line, flushed at once;
/// the stream ends with <c>data: [DONE]</c>.
/// </summary>
public sealed class SseWriter(HttpResponse response)
{
    private static readonly byte[] s_data = "data: "u8.ToArray();
    private static readonly byte[] s_end = "\n\n"u8.ToArray();
    private static readonly byte[] s_done = "data: [DONE]\n\n"u8.ToArray();

    public bool Started { get; private set; }

    public async Task StartAsync(CancellationToken cancel)
    {
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = "text/event-stream; charset=utf-8";
        response.Headers.CacheControl = "no-cache";
        response.Headers["X-Accel-Buffering"] = "no";
        Started = true;
        await response.StartAsync(cancel);
    }

    public async Task EventAsync(object payload, CancellationToken cancel)
    {
        await response.Body.WriteAsync(s_data, cancel);
        await response.Body.WriteAsync(JsonSerializer.SerializeToUtf8Bytes(payload, ApiResponses.Json), cancel);
        await response.Body.WriteAsync(s_end, cancel);
        await response.Body.FlushAsync(cancel);
    }

    public async Task RawEventAsync(byte[] json, CancellationToken cancel)
    {
        await response.Body.WriteAsync(s_data, cancel);
        await response.Body.WriteAsync(json, cancel);
        await response.Body.WriteAsync(s_end, cancel);
        await response.Body.FlushAsync(cancel);
    }

    public async Task DoneAsync(CancellationToken cancel)
    {
        await response.Body.WriteAsync(s_done, cancel);
        await response.Body.FlushAsync(cancel);
    }
}
