using System.Diagnostics;
using ActorLlm.Cli.Pool;
using Xunit;

namespace ActorLlm.IntegrationTests;

/// <summary>The CLI round trip of 8-bit weights: convert --weights int8, info, generate from the store, quality.</summary>
public sealed class Int8CliTests : IDisposable
{
    private readonly TempDir _dir = new();

    private static async Task<(int Code, string Out, string Err)> RunAsync(params string[] args)
    {
        var psi = NodeProcess.SelfCommand();
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        psi.RedirectStandardOutput = true;
        psi.RedirectStandardError = true;
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(4));
        await p.WaitForExitAsync(timeout.Token);
        return (p.ExitCode, await stdout, await stderr);
    }

    [Fact]
    public async Task Convert_to_int8_then_info_generate_and_quality_work_from_the_store()
    {
        string store = _dir["int8"];
        var convert = await RunAsync("convert", TestModels.Stories260K, store, "--weights", "int8");
        Assert.True(convert.Code == 0, convert.Err);
        Assert.Contains("weights int8-absmax-per-channel", convert.Out);
        Assert.Contains("\"weights\": \"int8-absmax-per-channel\"", File.ReadAllText(Path.Combine(store, "manifest.json")));

        var info = await RunAsync("info", store, "--dtype", "bf16");
        Assert.True(info.Code == 0, info.Err);
        Assert.Contains("stored as F32, I8; weights int8-absmax-per-channel", info.Out);
        Assert.Contains("memory at bf16 with int8-absmax-per-channel weights: weights", info.Out);
        var sourceInfo = await RunAsync("info", "--dtype", "bf16");
        Assert.Contains("memory at bf16 with int8 weights (convert --weights int8): weights", sourceInfo.Out);

        // Greedy from BOS: the int8 store's text first differs from the source's after 235 tokens (docs/benchmarks.md).
        var source = await RunAsync("generate", "--max-tokens", "30");
        var int8 = await RunAsync("generate", "--model", store, "--max-tokens", "30");
        Assert.True(int8.Code == 0, int8.Err);
        Assert.Equal(source.Out, int8.Out);

        var quality = await RunAsync("quality", "--compare", store, "--greedy-tokens", "20", "--held-texts", "1", "--held-tokens", "30");
        Assert.True(quality.Code == 0, quality.Err);
        Assert.Contains("(int8-absmax-per-channel)", quality.Out);
        Assert.Matches(@"logits: \d+ prompt positions of 4 prompts: max \|A - B\| 0\.\d+", quality.Out);
        Assert.Contains("greedy agreement: ", quality.Out);
        Assert.Matches(@"perplexity A \d+\.\d+, B \d+\.\d+", quality.Out);
    }

    [Fact]
    public async Task A_model_compared_with_itself_agrees_exactly()
    {
        var same = await RunAsync("quality", "--compare", TestModels.Stories260K, "--greedy-tokens", "10", "--held-texts", "1", "--held-tokens", "20", "--prompt", "Once upon a time");
        Assert.True(same.Code == 0, same.Err);
        Assert.Contains("max |A - B| 0, mean 0", same.Out);
        Assert.Contains("greedy agreement: 10/10 identical tokens (100.0%)", same.Out);
        Assert.Contains("first divergence at token none", same.Out);
        Assert.Contains("top-1 agreement 100.00%", same.Out);
    }

    [Fact]
    public async Task Bad_weight_formats_and_models_are_one_clear_line()
    {
        var format = await RunAsync("convert", TestModels.Stories260K, _dir["x"], "--weights", "int4");
        Assert.Equal(2, format.Code);
        Assert.Contains("int4", format.Err);

        var missing = await RunAsync("quality", "--compare", "/nonexistent/model");
        Assert.Equal(1, missing.Code);
        Assert.Single(missing.Err.Trim().Split('\n'));
        Assert.Contains("/nonexistent/model", missing.Err);

        var tokens = await RunAsync("quality", "--compare", TestModels.Stories260K, "--greedy-tokens", "0");
        Assert.Equal(1, tokens.Code);
        Assert.Contains("--greedy-tokens must be > 0", tokens.Err);
    }

    public void Dispose() => _dir.Dispose();
}
