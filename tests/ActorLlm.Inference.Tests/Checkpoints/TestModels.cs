using Xunit;

namespace ActorLlm.Inference.Tests.Checkpoints;

/// <summary>Every checkpoint the store is tested with: the conformance fixtures and the bundled stories260K.</summary>
public static class TestModels
{
    public static TheoryData<string> All =>
        ["hf-llama-tiny", "llama3-tied", "qwen2-bias", "mistral-window", "llama-linear-bf16-sharded", "llama-bias-f16", "stories260K"];

    public static string PathOf(string name) =>
        name == "stories260K" ? RepoPaths.Stories260K : System.IO.Path.Combine(RepoPaths.FixturesDir, name);
}
