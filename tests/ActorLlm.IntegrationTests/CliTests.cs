using System.Diagnostics;
using System.Text.Json;
using ActorLlm.Cli.Pool;
using ActorLlm.Inference.Conformance;
using Xunit;

namespace ActorLlm.IntegrationTests;

/// <summary>The `actorllm` executable as users run it: its stdout, stderr and exit codes.</summary>
public sealed class CliTests
{
    private static readonly string s_fixtures = RepoPaths.FixturesDir;

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
    public async Task Generate_prints_only_the_story_on_stdout()
    {
        var (code, stdout, stderr) = await RunAsync("generate", "--max-tokens", "30");
        Assert.Equal(0, code);
        Assert.Equal("Once upon a time, there was a little girl named Lily. She loved to play outside in the park", stdout.Trim());
        Assert.Contains("tokens/s", stderr);
    }

    [Theory]
    [InlineData("llama3-tied")]
    [InlineData("qwen2-bias")]
    [InlineData("mistral-window")]
    public async Task Logits_match_transformers_for_other_llama_family_checkpoints(string fixture)
    {
        string dir = Path.Combine(s_fixtures, fixture);
        var golden = Golden.Load(dir)[1];
        var (code, stdout, stderr) = await RunAsync("logits", "--model", dir, "--ids", string.Join(",", golden.PromptIds));
        Assert.True(code == 0, stderr);
        using var json = JsonDocument.Parse(stdout);
        var rows = json.RootElement.GetProperty("logits").EnumerateArray().Select(r => r.EnumerateArray().Select(v => v.GetSingle()).ToArray()).ToArray();
        Assert.True(ConformanceCheck.MaxDiff(golden.Logits, rows) <= 1e-4);
    }

    [Fact]
    public async Task Bad_input_is_one_clear_line_and_exit_code_1()
    {
        var unknownModel = await RunAsync("generate", "--model", "/nonexistent/model");
        Assert.Equal(1, unknownModel.Code);
        Assert.Equal("error: model directory '/nonexistent/model' does not exist", unknownModel.Err.Trim());

        var outOfVocab = await RunAsync("logits", "--ids", "1,2,99999");
        Assert.Equal(1, outOfVocab.Code);
        Assert.Contains("outside the vocabulary", outOfVocab.Err);

        var usage = await RunAsync("generate", "--no-such-option");
        Assert.Equal(2, usage.Code);

        string badFile = Path.GetTempFileName();
        await File.WriteAllBytesAsync(badFile, [0x4f, 0x6e, 0x63, 0x65, 0x20, 0xc3, 0x28]);
        var invalidUtf8 = await RunAsync("generate", "--prompt-file", badFile);
        File.Delete(badFile);
        Assert.Equal(1, invalidUtf8.Code);
        Assert.Contains("not valid UTF-8", invalidUtf8.Err);
        Assert.Empty(invalidUtf8.Out);
    }

    [Fact]
    public async Task Demo_prints_the_placement_the_story_and_the_stage_timings()
    {
        var (code, stdout, stderr) = await RunAsync("demo", "--workers", "3", "--max-tokens", "30");
        Assert.True(code == 0, stderr);
        Assert.Contains("placement (5 layers, 7 units", stdout);
        Assert.Contains("Once upon a time, there was a little girl named Lily. She loved to play outside in the park", stdout);
        Assert.Equal(3, stdout.Split('\n').Count(l => l.TrimStart().StartsWith("worker-", StringComparison.Ordinal) && l.Contains("prefill")));
    }

    [Fact]
    public async Task Demo_serve_prints_the_url_and_a_key_first_serves_the_API_and_stops_every_process_on_SIGTERM()
    {
        var psi = NodeProcess.SelfCommand();
        foreach (var a in new[] { "demo", "--serve", "--http-port", "0", "--workers", "2" })
        {
            psi.ArgumentList.Add(a);
        }

        psi.RedirectStandardOutput = true;
        psi.RedirectStandardError = true;
        using var demo = Process.Start(psi)!;
        var stderr = demo.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        try
        {
            string url = await demo.StandardOutput.ReadLineAsync(timeout.Token) ?? "";
            string key = await demo.StandardOutput.ReadLineAsync(timeout.Token) ?? "";
            Assert.Matches("^url: http://127\\.0\\.0\\.1:[0-9]+/v1$", url);
            Assert.Matches("^api-key: sk-actorllm-[A-Za-z0-9_-]{40,}$", key);
            url = url["url: ".Length..];
            key = key["api-key: ".Length..];

            // The rest of stdout: the placement, then the dashboard's address once every worker serves.
            string? line;
            while ((line = await demo.StandardOutput.ReadLineAsync(timeout.Token)) is not null && !line.StartsWith("dashboard: ", StringComparison.Ordinal))
            {
            }

            var client = new OpenAI.OpenAIClient(new System.ClientModel.ApiKeyCredential(key), new OpenAI.OpenAIClientOptions { Endpoint = new Uri(url) });
            var chat = await client.GetChatClient("stories260K").CompleteChatAsync(
                [new OpenAI.Chat.UserChatMessage("Tell me a story")], new OpenAI.Chat.ChatCompletionOptions { Temperature = 0, MaxOutputTokenCount = 8 });
            Assert.Equal(8, chat.Value.Usage.OutputTokenCount);

            // SIGTERM: the demo stops the pool (every node process) and exits cleanly.
            using (var term = Process.Start("kill", ["-TERM", demo.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
            {
                await term.WaitForExitAsync(timeout.Token);
            }

            await demo.WaitForExitAsync(timeout.Token);
            string err = await stderr;
            Assert.True(demo.ExitCode == 0, err);
            Assert.Contains("stopping the pool", err);
            string dir = $"actorllm-demo-{demo.Id}";
            Assert.DoesNotContain(Directory.GetDirectories("/proc").Where(d => int.TryParse(Path.GetFileName(d), out _)), d =>
            {
                try
                {
                    return File.ReadAllText(Path.Combine(d, "cmdline")).Contains(dir, StringComparison.Ordinal);
                }
                catch (IOException)
                {
                    return false;
                }
                catch (UnauthorizedAccessException)
                {
                    return false;
                }
            });
            using var probe = new HttpClient();
            await Assert.ThrowsAsync<HttpRequestException>(() => probe.GetAsync(url + "/models", timeout.Token));
        }
        finally
        {
            if (!demo.HasExited)
            {
                demo.Kill(entireProcessTree: true);
            }
        }
    }
}
