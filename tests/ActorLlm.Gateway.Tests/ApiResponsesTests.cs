using System.Text.Json;
using ActorLlm.Gateway.Api;
using ActorLlm.Protocol;
using Xunit;

namespace ActorLlm.Gateway.Tests;

public sealed class ApiResponsesTests
{
    [Theory]
    [InlineData(FinishReason.Eos, "stop")]
    [InlineData(FinishReason.Stop, "stop")]
    [InlineData(FinishReason.Length, "length")]
    [InlineData(FinishReason.Context, "length")]
    public void Finish_reasons_are_OpenAIs(FinishReason reason, string expected) => Assert.Equal(expected, ApiResponses.FinishReason(reason));

    [Fact]
    public void The_model_object_lists_the_generation_defaults_its_file_gives_and_only_those()
    {
        var defaults = new Inference.Generation.GenerationDefaults(Temperature: 0.6f, TopP: 0.9f, DoSample: true);
        string json = JsonSerializer.Serialize(ApiResponses.GenerationDefaults(defaults), ApiResponses.Json);
        using var doc = JsonDocument.Parse(json);
        Assert.Equal(["do_sample", "temperature", "top_p"], doc.RootElement.EnumerateObject().Select(p => p.Name).Order().ToArray());

        // What a client reads back settles a request as the gateway's own file does.
        var back = Inference.Generation.GenerationDefaults.Parse(System.Text.Encoding.UTF8.GetBytes(json), "test");
        Assert.Equal(0.6f, back.Temperature);
        Assert.Equal(0.9f, back.TopP);
        Assert.True(back.DoSample);
        Assert.Equal("{}", JsonSerializer.Serialize(ApiResponses.GenerationDefaults(Inference.Generation.GenerationDefaults.None), ApiResponses.Json));
    }

    [Fact]
    public void Minus_infinity_is_written_as_OpenAIs_minus_9999()
    {
        Assert.Equal(-9999.0, ApiResponses.Finite(double.NegativeInfinity));
        Assert.Equal(-9999.0, ApiResponses.Finite(double.NaN));
        Assert.Equal(-0.5, ApiResponses.Finite(-0.5));
    }

    [Fact]
    public void Errors_are_OpenAIs_error_object()
    {
        var e = ApiException.BadRequest("bad 'n'", "n");
        using var doc = JsonDocument.Parse(e.Body());
        var error = doc.RootElement.GetProperty("error");
        Assert.Equal("bad 'n'", error.GetProperty("message").GetString());
        Assert.Equal("invalid_request_error", error.GetProperty("type").GetString());
        Assert.Equal("n", error.GetProperty("param").GetString());
        Assert.Equal(JsonValueKind.Null, error.GetProperty("code").ValueKind);
    }
}
