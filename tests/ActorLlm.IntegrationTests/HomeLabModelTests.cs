using System.Diagnostics;
using ActorLlm.Cli.Http;
using ActorLlm.Cli.Pool;
using ActorLlm.Inference.Checkpoints;
using ActorLlm.Inference.Devices;
using ActorLlm.Inference.Execution;
using ActorLlm.Inference.Generation;
using ActorLlm.Protocol.Messages;
using ActorLlm.Protocol.Serialization;
using Xunit;
using Xunit.Abstractions;

namespace ActorLlm.IntegrationTests;

/// <summary>
/// Real models as a home lab has them: a tokenizer larger than any message (Llama 3's is 9.4 MB) pulled by a worker
/// with no model, a Hugging Face directory served in place (no converted copy in the cache) with peers pulling
/// units byte-identical to a conversion's, ORG/NAME found in the Hugging Face cache, and generation_config.json's
/// defaults applied to what a command or an API request leaves out.
/// </summary>
public sealed class HomeLabModelTests(ITestOutputHelper output) : PoolTestBase(output)
{
    private const string Prompt = "Once upon a time";
    private string? _poolModel;

    protected override string PoolModel => _poolModel ?? Model;

    private string PoolDir => Path.Combine(WorkDir, "pool0");

    /// <summary>The unit store a node created under its cache from a peer's manifest (the one directory with a manifest.json).</summary>
    private static string PulledStore(string cache) =>
        Directory.EnumerateFiles(cache, UnitStore.ManifestFile, SearchOption.AllDirectories).Select(Path.GetDirectoryName).Single()!;

    [Fact]
    public Task A_model_less_worker_pulls_a_tokenizer_larger_than_a_message_and_the_pool_serves_the_single_process_text() => WithLogs(async () =>
    {
        _poolModel = TestModels.WriteLargeTokenizerModel(Path.Combine(WorkDir, "byte-level-model"));
        string tokenizer = Path.Combine(_poolModel, "tokenizer.json");
        Assert.True(new FileInfo(tokenizer).Length > WireLimits.Default.MaxPayloadBytes, "the tokenizer must not fit one message");

        var (pool, client) = await StartPoolAsync(workers: 1, workersHaveModel: false);
        var options = Greedy(24);
        var result = await client.GenerateAsync(Prompt, options, null, Timeout);
        using (var local = LocalGenerator.Load(_poolModel, ComputeTarget.Cpu, new KvCacheOptions(1, 512)))
        {
            Assert.Equal(local.Generate(Prompt, WireOptions.ToOptions(options)).Text, result.Text);

            // Through the API with no sampling or length fields: the gateway fills them from generation_config.json
            // (do_sample false: greedy; max_new_tokens 12).
            using var api = new GatewayClient(pool.ApiUrl, pool.ApiKey, Timeout);
            var viaApi = await api.CompleteAsync(Prompt, WireOptions.ToWire(new GenerationOptions { StopAtEos = false }), null, asked: new SamplingRequest());
            Assert.Equal(12, viaApi.GeneratedTokens);
            Assert.Equal(local.Generate(Prompt, new GenerationOptions { MaxTokens = 12, StopAtEos = false }).Text, viaApi.Text);
        }

        string store = PulledStore(Path.Combine(PoolDir, "worker-1-cache"));
        Assert.Equal(File.ReadAllBytes(tokenizer), File.ReadAllBytes(Path.Combine(store, "tokenizer.json")));
        Assert.Equal(File.ReadAllBytes(Path.Combine(_poolModel, "generation_config.json")), File.ReadAllBytes(Path.Combine(store, "generation_config.json")));
        Assert.DoesNotContain("more than the", File.ReadAllText(pool["worker-1"].LogPath));
    });

    [Fact]
    public Task A_hugging_face_directory_is_served_in_place_and_a_model_less_worker_pulls_units_identical_to_a_conversion() => WithLogs(async () =>
    {
        var (pool, client) = await StartPoolAsync(workers: 1, workersHaveModel: false);
        var options = Greedy(32);
        var result = await client.GenerateAsync(Prompt, options, null, Timeout);
        Assert.Equal(SingleProcess(Prompt, options), result.Text);

        // The gateway served the bundled Hugging Face directory in place: its cache holds the remembered manifest
        // (sizes and sha256) and no weight bytes.
        var gatewayCache = Directory.EnumerateFiles(Path.Combine(PoolDir, "gateway-cache"), "*", SearchOption.AllDirectories).ToList();
        Assert.Single(gatewayCache);
        Assert.EndsWith(".manifest.json", gatewayCache[0]);
        Assert.True(new FileInfo(gatewayCache[0]).Length < 64 * 1024);
        Assert.Contains("served in place", File.ReadAllText(pool["gateway"].LogPath));

        // The worker pulled every unit from it (it holds the whole model), each byte for byte what a conversion writes.
        string converted = Path.Combine(WorkDir, "converted");
        var conversion = UnitStoreWriter.Convert(Model, converted);
        string store = PulledStore(Path.Combine(PoolDir, "worker-1-cache"));
        Assert.Equal(conversion.Manifest.ToJson(), File.ReadAllBytes(Path.Combine(store, UnitStore.ManifestFile)));
        foreach (var unit in conversion.Manifest.Units)
        {
            Assert.Equal(File.ReadAllBytes(Path.Combine(converted, unit.File)), File.ReadAllBytes(Path.Combine(store, unit.File)));
        }
    });

    [Fact]
    public async Task Generate_finds_org_name_in_the_hugging_face_cache_and_applies_its_generation_config()
    {
        // A cache as huggingface_hub lays it out: refs/main names the snapshot, whose files link into blobs/.
        string hub = Path.Combine(WorkDir, "hub");
        string entry = Path.Combine(hub, "models--test-org--stories");
        string snapshot = Directory.CreateDirectory(Path.Combine(entry, "snapshots", "abc123")).FullName;
        Directory.CreateDirectory(Path.Combine(entry, "blobs"));
        Directory.CreateDirectory(Path.Combine(entry, "refs"));
        File.WriteAllText(Path.Combine(entry, "refs", "main"), "abc123");
        foreach (string f in Directory.EnumerateFiles(Model).Where(f => Path.GetFileName(f) != "generation_config.json"))
        {
            string blob = Path.Combine(entry, "blobs", Path.GetFileName(f));
            File.Copy(f, blob);
            File.CreateSymbolicLink(Path.Combine(snapshot, Path.GetFileName(f)), blob);
        }

        File.WriteAllText(Path.Combine(snapshot, "generation_config.json"), """{"bos_token_id": 1, "eos_token_id": 2, "do_sample": false, "max_new_tokens": 7}""");
        var env = new Dictionary<string, string> { ["HF_HUB_CACHE"] = hub };

        var (code, stdout, stderr) = await RunAsync(env, "generate", "--model", "test-org/stories", "--prompt", Prompt, "--ignore-eos");
        Assert.True(code == 0, stderr);
        Assert.Contains("7 generated", stderr);
        string expected = SingleProcess(Prompt, new(7, WireSampling.Greedy, [], StopAtEos: false));
        Assert.Equal(expected + "\n", stdout);

        // A command-line value wins over the file's.
        var longer = await RunAsync(env, "generate", "--model", "test-org/stories", "--prompt", Prompt, "--ignore-eos", "--max-tokens", "9");
        Assert.Contains("9 generated", longer.Err);

        var missing = await RunAsync(env, "generate", "--model", "test-org/absent");
        Assert.Equal(1, missing.Code);
        Assert.Contains($"'test-org/absent' is neither a directory nor in the Hugging Face cache (looked at {Path.Combine(hub, "models--test-org--absent")}", missing.Err);
    }

    private static async Task<(int Code, string Out, string Err)> RunAsync(IReadOnlyDictionary<string, string> environment, params string[] args)
    {
        var psi = NodeProcess.SelfCommand();
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        foreach (var (name, value) in environment)
        {
            psi.Environment[name] = value;
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
}
