using System.Text.Json.Nodes;
using ActorLlm.Inference.Devices;
using ActorLlm.Protocol;
using Xunit;

namespace ActorLlm.Inference.Tests.Devices;

/// <summary>With no dtype asked for, CUDA computes in the model's own dtype and the CPU in f32.</summary>
public sealed class DefaultDTypeTests
{
    private static JsonObject Config(string json) => JsonNode.Parse(json)!.AsObject();

    [Theory]
    [InlineData("""{"torch_dtype": "bfloat16"}""", DType.BF16)]
    [InlineData("""{"torch_dtype": "float16"}""", DType.F16)]
    [InlineData("""{"torch_dtype": "float32"}""", DType.F32)]
    [InlineData("""{"dtype": "bfloat16"}""", DType.BF16)]
    [InlineData("""{"dtype": "float16", "torch_dtype": "float32"}""", DType.F16)]
    [InlineData("""{"dtype": null, "torch_dtype": "bfloat16"}""", DType.BF16)]
    [InlineData("""{}""", DType.F32)]
    public void On_cuda_the_models_own_dtype_is_the_default(string config, DType expected) =>
        Assert.Equal(expected, DefaultDType.Choose(null, cuda: true, Config(config), "config.json"));

    [Theory]
    [InlineData("""{"torch_dtype": "bfloat16"}""")]
    [InlineData("""{"dtype": "float16"}""")]
    [InlineData("""{"torch_dtype": "float64"}""")]
    public void On_the_cpu_the_default_is_f32_whatever_the_model_says(string config) =>
        Assert.Equal(DType.F32, DefaultDType.Choose(null, cuda: false, Config(config), "config.json"));

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void A_dtype_asked_for_wins(bool cuda)
    {
        Assert.Equal(DType.F16, DefaultDType.Choose(DType.F16, cuda, Config("""{"torch_dtype": "bfloat16"}"""), "config.json"));
        Assert.Equal(DType.BF16, DefaultDType.Choose(DType.BF16, cuda, Config("""{"torch_dtype": "int8"}"""), "config.json"));
    }

    [Theory]
    [InlineData("""{"torch_dtype": "float64"}""", "'torch_dtype' is \"float64\"")]
    [InlineData("""{"dtype": "int8"}""", "'dtype' is \"int8\"")]
    [InlineData("""{"torch_dtype": 16}""", "'torch_dtype' must be a string")]
    public void A_model_dtype_no_stage_computes_in_is_an_error_naming_the_file_and_key(string config, string expected)
    {
        var e = Assert.Throws<ModelFormatException>(() => DefaultDType.Choose(null, cuda: true, Config(config), "/m/config.json"));
        Assert.StartsWith("/m/config.json: ", e.Message);
        Assert.Contains(expected, e.Message);
    }
}
