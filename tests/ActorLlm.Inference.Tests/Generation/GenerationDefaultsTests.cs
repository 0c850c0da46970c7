using System.Text;
using ActorLlm.Inference.Generation;
using Xunit;

namespace ActorLlm.Inference.Tests.Generation;

/// <summary>generation_config.json fills in what a request did not give, and a bad value names the file and key.</summary>
public sealed class GenerationDefaultsTests
{
    private static readonly SettledSampling s_cli = new(MaxTokens: 128, Temperature: 0f, TopP: 1f, TopK: 0, RepetitionPenalty: 1f);
    private static readonly SettledSampling s_api = new(MaxTokens: 256, Temperature: 1f, TopP: 1f, TopK: 0, RepetitionPenalty: 1f);

    private static GenerationDefaults Parse(string json) => GenerationDefaults.Parse(Encoding.UTF8.GetBytes(json), "/m/generation_config.json");

    private const string Llama3Instruct = """
        {"bos_token_id": 128000, "do_sample": true, "eos_token_id": [128001, 128008, 128009], "temperature": 0.6, "top_p": 0.9, "transformers_version": "4.45.0"}
        """;

    [Fact]
    public void The_files_values_fill_what_the_request_left_out()
    {
        var d = Parse(Llama3Instruct);
        Assert.Equal([128001, 128008, 128009], d.EosTokenIds);
        Assert.Equal(new SettledSampling(128, 0.6f, 0.9f, 0, 1f), d.Fill(new SamplingRequest(), s_cli));
        Assert.Equal(new SettledSampling(256, 0.6f, 0.9f, 0, 1f), d.Fill(new SamplingRequest(), s_api));

        // Whatever the request gives wins, value by value.
        Assert.Equal(new SettledSampling(10, 0f, 0.9f, 40, 1.2f), d.Fill(new SamplingRequest(10, 0f, null, 40, 1.2f), s_cli));
        Assert.Equal(new SettledSampling(128, 0.6f, 0.5f, 0, 1f), d.Fill(new SamplingRequest(TopP: 0.5f), s_cli));
    }

    [Fact]
    public void Do_sample_false_makes_the_default_greedy_whatever_the_files_temperature()
    {
        var d = Parse("""{"do_sample": false, "temperature": 0.7, "top_k": 20, "repetition_penalty": 1.1, "max_new_tokens": 64}""");
        Assert.Equal(new SettledSampling(64, 0f, 1f, 20, 1.1f), d.Fill(new SamplingRequest(), s_api));

        // A request that asks for a temperature samples, with the file's top_k and penalty.
        Assert.Equal(new SettledSampling(64, 0.8f, 1f, 20, 1.1f), d.Fill(new SamplingRequest(Temperature: 0.8f), s_api));
    }

    [Fact]
    public void Do_sample_true_without_a_temperature_samples_at_1_and_without_do_sample_the_files_temperature_counts()
    {
        Assert.Equal(1f, Parse("""{"do_sample": true}""").Fill(new SamplingRequest(), s_cli).Temperature);
        Assert.Equal(0.3f, Parse("""{"temperature": 0.3}""").Fill(new SamplingRequest(), s_cli).Temperature);
        Assert.Equal(0f, Parse("""{"top_p": 0.5}""").Fill(new SamplingRequest(), s_cli).Temperature);
        Assert.Equal(1f, Parse("""{"top_p": 0.5}""").Fill(new SamplingRequest(), s_api).Temperature);
    }

    [Fact]
    public void No_file_and_null_values_leave_the_surfaces_defaults()
    {
        Assert.Equal(s_cli, GenerationDefaults.None.Fill(new SamplingRequest(), s_cli));
        Assert.Equal(s_api, Parse("""{"temperature": null, "top_p": null, "do_sample": null, "eos_token_id": null, "max_length": 20}""").Fill(new SamplingRequest(), s_api));
        Assert.Equal(7, Parse("""{"eos_token_id": 7}""").EosTokenIds!.Single());
    }

    [Theory]
    [InlineData("""{"temperature": "hot"}""", "'temperature' must be a number >= 0, got \"hot\"")]
    [InlineData("""{"temperature": -1}""", "'temperature' must be a number >= 0")]
    [InlineData("""{"top_p": 0}""", "'top_p' must be a number in (0, 1]")]
    [InlineData("""{"top_p": 1.5}""", "'top_p' must be a number in (0, 1]")]
    [InlineData("""{"top_k": 2.5}""", "'top_k' must be an integer >= 0")]
    [InlineData("""{"top_k": -1}""", "'top_k' must be an integer >= 0")]
    [InlineData("""{"repetition_penalty": 0}""", "'repetition_penalty' must be a number > 0")]
    [InlineData("""{"do_sample": "yes"}""", "'do_sample' must be true or false")]
    [InlineData("""{"max_new_tokens": 0}""", "'max_new_tokens' must be an integer >= 1")]
    [InlineData("""{"eos_token_id": [1, "two"]}""", "'eos_token_id' must be a token id")]
    [InlineData("""{"eos_token_id": -2}""", "'eos_token_id' must be a token id")]
    [InlineData("""[1, 2]""", "must be a JSON object")]
    [InlineData("""{"temperature": 0.6,""", "not valid JSON")]
    public void Bad_values_are_errors_naming_the_file_and_key(string json, string expected)
    {
        var e = Assert.Throws<ModelFormatException>(() => Parse(json));
        Assert.StartsWith("/m/generation_config.json: ", e.Message);
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void A_model_directory_without_the_file_has_none_and_the_fixtures_files_read()
    {
        using var dir = new TempDir();
        Assert.Same(GenerationDefaults.None, GenerationDefaults.Load(dir.Path));
        var byteLevel = GenerationDefaults.Load(TestModels.ByteLevelTokenizerDir);
        Assert.Equal(0.9f, byteLevel.TopP);
        Assert.Equal([295, 298], byteLevel.EosTokenIds);
        Assert.Equal(0.6f, byteLevel.Temperature);
        Assert.True(byteLevel.DoSample);
    }
}
