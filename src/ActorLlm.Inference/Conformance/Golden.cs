using System.Text.Json;

namespace ActorLlm.Inference.Conformance;

/// <summary>
/// One case of a conformance fixture's golden.json (written by tests/fixtures/hf-llama-tiny's author or
/// scripts/gpu/make_fixtures.py): prompt ids and what Hugging Face transformers computed for them.
/// </summary>
public sealed record GoldenCase(int[] PromptIds, float[][] Logits, float[][][] HiddenStates, int[] GreedyNewIds);

/// <summary>Reads golden.json files.</summary>
public static class Golden
{
    public static IReadOnlyList<GoldenCase> Load(string fixtureDir)
    {
        using var doc = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(fixtureDir, "golden.json")));
        return doc.RootElement.GetProperty("cases").EnumerateArray().Select(c => new GoldenCase(
            c.GetProperty("prompt_ids").EnumerateArray().Select(x => x.GetInt32()).ToArray(),
            Matrix(c.GetProperty("logits")),
            c.GetProperty("hidden_states").EnumerateArray().Select(Matrix).ToArray(),
            c.GetProperty("greedy_new_ids").EnumerateArray().Select(x => x.GetInt32()).ToArray())).ToArray();
    }

    private static float[][] Matrix(JsonElement e) =>
        e.EnumerateArray().Select(r => r.EnumerateArray().Select(x => x.GetSingle()).ToArray()).ToArray();
}
