using System.Text.Json;
using Microsoft.AspNetCore.Http;

namespace ActorLlm.Gateway.Api;

/// <summary>
/// A request the API answers with an error: the HTTP status and OpenAI's error object
/// (<c>{"error": {"message", "type", "param", "code"}}</c>), so OpenAI clients raise their usual exceptions.
/// </summary>
public sealed class ApiException(int status, string message, string type = ApiException.InvalidRequest, string? param = null, string? code = null)
    : Exception(message)
{
    public const string InvalidRequest = "invalid_request_error";
    public const string Authentication = "authentication_error";
    public const string NotFound = "not_found_error";
    public const string RateLimit = "rate_limit_error";
    public const string Unavailable = "service_unavailable";
    public const string Server = "server_error";

    public int Status { get; } = status;

    public string Type { get; } = type;

    public string? Param { get; } = param;

    public string? Code { get; } = code;

    /// <summary>Seconds for a Retry-After header (429, 503), or null.</summary>
    public int? RetryAfterSeconds { get; init; }

    public static ApiException BadRequest(string message, string? param = null, string? code = null) => new(StatusCodes.Status400BadRequest, message, InvalidRequest, param, code);

    /// <summary>The error object as OpenAI writes it.</summary>
    public byte[] Body() => ErrorBody(Message, Type, Param, Code);

    public static byte[] ErrorBody(string message, string type, string? param = null, string? code = null) =>
        JsonSerializer.SerializeToUtf8Bytes(new { error = new { message, type, param, code } }, ApiResponses.Json);

    /// <summary>Writes this error as the response (status, Retry-After, JSON body).</summary>
    public async Task WriteAsync(HttpResponse response)
    {
        response.StatusCode = Status;
        response.ContentType = "application/json";
        if (RetryAfterSeconds is int seconds)
        {
            response.Headers.RetryAfter = seconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }

        if (Status == StatusCodes.Status401Unauthorized)
        {
            response.Headers.WWWAuthenticate = "Bearer";
        }

        await response.Body.WriteAsync(Body());
    }
}
