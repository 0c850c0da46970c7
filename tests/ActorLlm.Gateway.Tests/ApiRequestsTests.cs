using ActorLlm.Inference.Tokenization.Templates;
using System.Text;
using ActorLlm.Gateway.Api;
using Xunit;

namespace ActorLlm.Gateway.Tests;

public sealed class ApiRequestsTests
{
    private static CompletionRequest Completion(string json) => ApiRequests.Completion(Encoding.UTF8.GetBytes(json), maxN: 16, maxLogprobs: 20);

    private static ChatRequest Chat(string json) => ApiRequests.Chat(Encoding.UTF8.GetBytes(json), maxN: 16, maxLogprobs: 20);

    private static ApiException Refused(Action parse)
    {
        var e = Assert.Throws<ApiException>(parse);
        Assert.Equal(400, e.Status);
        Assert.Equal(ApiException.InvalidRequest, e.Type);
        return e;
    }

    [Fact]
    public void A_minimal_completion_leaves_the_sampling_fields_unset_for_the_models_defaults()
    {
        var r = Completion("""{"model": "m", "prompt": "hi"}""");
        Assert.Equal(["hi"], r.Prompts);
        var g = r.Generation;
        Assert.Equal("m", g.Model);
        Assert.Null(g.MaxTokens);
        Assert.Null(g.Temperature);
        Assert.Null(g.TopP);
        Assert.Null(g.TopK);
        Assert.Null(g.RepetitionPenalty);
        Assert.Null(g.Seed);
        Assert.Empty(g.Stop);
        Assert.Equal(1, g.N);
        Assert.Equal(-1, g.Logprobs);
        Assert.False(g.Stream);
        Assert.False(g.IncludeUsage);
    }

    [Fact]
    public void Every_supported_field_is_read()
    {
        var r = Completion("""
            {"model": "m", "prompt": ["a", "b"], "max_tokens": 7, "temperature": 0.5, "top_p": 0.9, "top_k": 40,
             "repetition_penalty": 1.1, "seed": -3, "stop": ["x", "y"], "n": 2, "logprobs": 3, "stream": true,
             "stream_options": {"include_usage": true}, "ignore_eos": true, "trusted_only": true, "user": "u", "presence_penalty": 0}
            """);
        Assert.Equal(["a", "b"], r.Prompts);
        var g = r.Generation;
        Assert.Equal(7, g.MaxTokens);
        Assert.Equal(0.5f, g.Temperature);
        Assert.Equal(0.9f, g.TopP);
        Assert.Equal(40, g.TopK);
        Assert.Equal(1.1f, g.RepetitionPenalty);
        Assert.Equal(unchecked((ulong)-3L), g.Seed);
        Assert.Equal(["x", "y"], g.Stop);
        Assert.Equal(2, g.N);
        Assert.Equal(3, g.Logprobs);
        Assert.True(g.Stream);
        Assert.True(g.IncludeUsage);
        Assert.True(g.IgnoreEos);
        Assert.True(g.TrustedOnly);
        Assert.False(Completion("""{"model": "m", "prompt": "a"}""").Generation.TrustedOnly);
    }

    [Fact]
    public void Max_completion_tokens_wins_over_max_tokens_and_nulls_mean_unset()
    {
        Assert.Equal(5, Chat("""{"model": "m", "messages": [{"role": "user", "content": "a"}], "max_tokens": 9, "max_completion_tokens": 5}""").Generation.MaxTokens);
        var g = Completion("""{"model": "m", "prompt": "a", "temperature": null, "stop": null, "seed": null}""").Generation;
        Assert.Null(g.Temperature);
        Assert.Empty(g.Stop);
        Assert.Null(g.Seed);
    }

    [Fact]
    public void Chat_messages_join_text_parts_and_map_developer_to_system()
    {
        var r = Chat("""
            {"model": "m", "messages": [
              {"role": "developer", "content": "be brief"},
              {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
              {"role": "assistant", "content": null}],
             "logprobs": true, "top_logprobs": 4}
            """);
        Assert.Equal([new ChatMessage("system", "be brief"), new ChatMessage("user", "ab"), new ChatMessage("assistant", "")], r.Messages);
        Assert.Equal(4, r.Generation.Logprobs);
        Assert.Equal(0, Chat("""{"model": "m", "messages": [{"role": "user", "content": "a"}], "logprobs": true}""").Generation.Logprobs);
    }

    [Theory]
    [InlineData("""{"prompt": "a"}""", "model")]
    [InlineData("""{"model": "m"}""", "prompt")]
    [InlineData("""{"model": "m", "prompt": 3}""", "prompt")]
    [InlineData("""{"model": "m", "prompt": [1, 2]}""", "prompt")]
    [InlineData("""{"model": "m", "prompt": "a", "max_tokens": 0}""", "max_tokens")]
    [InlineData("""{"model": "m", "prompt": "a", "max_tokens": "5"}""", "max_tokens")]
    [InlineData("""{"model": "m", "prompt": "a", "temperature": 2.5}""", "temperature")]
    [InlineData("""{"model": "m", "prompt": "a", "top_p": 0}""", "top_p")]
    [InlineData("""{"model": "m", "prompt": "a", "n": 17}""", "n")]
    [InlineData("""{"model": "m", "prompt": "a", "logprobs": 21}""", "logprobs")]
    [InlineData("""{"model": "m", "prompt": "a", "stop": [1]}""", "stop")]
    [InlineData("""{"model": "m", "prompt": "a", "stop": ""}""", "stop")]
    [InlineData("""{"model": "m", "prompt": "a", "seed": 1.5}""", "seed")]
    [InlineData("""{"model": "m", "prompt": "a", "stream_options": {"include_usage": true}}""", "stream_options")]
    [InlineData("""{"model": "m", "prompt": "a", "frequency_penalty": 0.5}""", "frequency_penalty")]
    [InlineData("""{"model": "m", "prompt": "a", "echo": true}""", "echo")]
    [InlineData("""{"model": "m", "prompt": "a", "logit_bias": {"5": 1}}""", "logit_bias")]
    public void A_bad_completion_field_is_a_400_naming_it(string json, string param) =>
        Assert.Equal(param, Refused(() => Completion(json)).Param);

    [Theory]
    [InlineData("""{"model": "m"}""", "messages")]
    [InlineData("""{"model": "m", "messages": []}""", "messages")]
    [InlineData("""{"model": "m", "messages": ["hi"]}""", "messages[0]")]
    [InlineData("""{"model": "m", "messages": [{"content": "hi"}]}""", "messages[0].role")]
    [InlineData("""{"model": "m", "messages": [{"role": "wizard", "content": "hi"}]}""", "messages[0].role")]
    [InlineData("""{"model": "m", "messages": [{"role": "user", "content": [{"type": "image_url"}]}]}""", "messages[0].content")]
    [InlineData("""{"model": "m", "messages": [{"role": "user", "content": "a"}], "top_logprobs": 2}""", "top_logprobs")]
    [InlineData("""{"model": "m", "messages": [{"role": "user", "content": "a"}], "tools": [{"type": "function"}]}""", "tools")]
    [InlineData("""{"model": "m", "messages": [{"role": "user", "content": "a"}], "response_format": {"type": "json_object"}}""", "response_format")]
    public void A_bad_chat_field_is_a_400_naming_it(string json, string param) =>
        Assert.Equal(param, Refused(() => Chat(json)).Param);

    [Fact]
    public void Bodies_that_are_not_one_JSON_object_in_UTF8_are_400s()
    {
        Assert.Contains("not valid JSON", Refused(() => Completion("{\"model\": ")).Message);
        Assert.Contains("JSON object", Refused(() => Completion("[1]")).Message);
        Assert.Contains("UTF-8", Refused(() => ApiRequests.Completion([.. "{\"model\": \"m\", \"prompt\": \""u8.ToArray(), 0xFF, .. "\"}"u8.ToArray()], 16, 20)).Message);
        Assert.Contains("not valid JSON", Refused(() => Completion(new string('[', 100) + new string(']', 100))).Message);
    }

    [Fact]
    public void Choices_need_one_of_prompt_and_messages_and_non_empty_candidates()
    {
        var ok = ApiRequests.Choices("""{"model": "m", "prompt": "Q", "choices": [" a", " b"]}"""u8, 256);
        Assert.Equal("Q", ok.Prompt);
        Assert.Equal([" a", " b"], ok.Choices);
        Assert.NotNull(ApiRequests.Choices("""{"model": "m", "messages": [{"role": "user", "content": "Q"}], "choices": ["a"]}"""u8, 256).Messages);
        Refused(() => ApiRequests.Choices("""{"model": "m", "choices": ["a"]}"""u8, 256));
        Refused(() => ApiRequests.Choices("""{"model": "m", "prompt": "Q", "messages": [{"role": "user", "content": "Q"}], "choices": ["a"]}"""u8, 256));
        Assert.Equal("choices", Refused(() => ApiRequests.Choices("""{"model": "m", "prompt": "Q", "choices": []}"""u8, 256)).Param);
        Assert.Equal("choices", Refused(() => ApiRequests.Choices("""{"model": "m", "prompt": "Q", "choices": [""]}"""u8, 256)).Param);
        Assert.Equal("choices", Refused(() => ApiRequests.Choices("""{"model": "m", "prompt": "Q", "choices": ["a", "b", "c"]}"""u8, 2)).Param);
    }
}
