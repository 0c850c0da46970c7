using System.CommandLine;
using ActorLlm.Inference.Generation;
using ActorLlm.Inference.Sampling;

namespace ActorLlm.Cli.Commands;

/// <summary><c>actorllm generate</c>: prints only the generated text on stdout, as it is produced.</summary>
public static class GenerateCommand
{
    /// <summary>
    /// What generate runs with where neither the command line nor the model's generation_config.json says: 128 tokens,
    /// greedy, no top-k, top-p or repetition penalty.
    /// </summary>
    public static readonly SettledSampling Fallback = new(MaxTokens: 128, Temperature: 0f, TopP: 1f, TopK: 0, RepetitionPenalty: 1f);

    public static Command Create()
    {
        var model = CommonOptions.Model();
        var device = CommonOptions.Device();
        var dtype = CommonOptions.ModelDType();
        var maxContext = CommonOptions.MaxContext();
        var prompt = CommonOptions.Prompt();
        var promptFile = CommonOptions.PromptFile();
        var maxTokens = new Option<int?>("--max-tokens", "-n") { Description = "Tokens to generate at most (default: the model's generation_config.json max_new_tokens, else 128)" };
        var temperature = new Option<float?>("--temperature", "-t") { Description = "0 = greedy (default: the model's generation_config.json, else 0)" };
        var topK = new Option<int?>("--top-k") { Description = "0 = off (default: the model's generation_config.json, else 0)" };
        var topP = new Option<float?>("--top-p") { Description = "1 = off (default: the model's generation_config.json, else 1)" };
        var penalty = new Option<float?>("--repetition-penalty") { Description = "1 = off (default: the model's generation_config.json, else 1)" };
        var seed = new Option<ulong>("--seed") { Description = "Random seed for sampling", DefaultValueFactory = _ => 0UL };
        var stop = new Option<string[]>("--stop") { Description = "Stop before this text (repeatable)", AllowMultipleArgumentsPerToken = false };
        var noEos = new Option<bool>("--ignore-eos") { Description = "Keep generating past end-of-sequence tokens" };
        var quiet = new Option<bool>("--quiet", "-q") { Description = "No statistics on stderr" };
        var cluster = ClusterOptions.Cluster();
        var apiKey = ClusterOptions.ApiKey();
        var timeout = ClusterOptions.Timeout();

        var command = new Command("generate", "Generate text from a prompt, here or on a pool (--cluster)")
        {
            model, device, dtype, maxContext, prompt, promptFile, maxTokens, temperature, topK, topP, penalty, seed, stop, noEos, quiet, cluster, apiKey, timeout,
        };
        command.SetAction(async (parse, cancel) =>
        {
            var asked = new SamplingRequest(parse.GetValue(maxTokens), parse.GetValue(temperature), parse.GetValue(topP), parse.GetValue(topK), parse.GetValue(penalty));
            GenerationOptions Options(SettledSampling settled) => new GenerationOptions
            {
                MaxTokens = settled.MaxTokens,
                Sampling = new SamplingParams
                {
                    Temperature = settled.Temperature,
                    TopK = settled.TopK,
                    TopP = settled.TopP,
                    RepetitionPenalty = settled.RepetitionPenalty,
                    Seed = parse.GetValue(seed),
                },
                StopStrings = parse.GetValue(stop) ?? [],
                StopAtEos = !parse.GetValue(noEos),
            }.Validate();
            string text = CommonOptions.ReadPrompt(parse.GetValue(prompt), parse.GetValue(promptFile));
            if (parse.GetValue(cluster) is string pool)
            {
                ClusterOptions.RefuseLocalOptions(parse, model, device, dtype, maxContext);
                using var client = ClusterOptions.Client(pool, parse.GetValue(apiKey), parse.GetValue(timeout));

                // Settled as in one process: what was asked, else the model's generation_config.json (as its gateway
                // lists it), else greedy; so `generate` and `generate --cluster` give the same text for the same options
                // (the API's own default for a missing temperature is OpenAI's, 1).
                var defaults = await client.GenerationDefaultsAsync(cancel);
                return await OnPoolAsync(client, text, Options(defaults.Fill(asked, Fallback)), parse.GetValue(quiet), cancel);
            }

            string dir = CommonOptions.ResolveModel(parse.GetValue(model));
            var options = Options(GenerationDefaults.Load(dir).Fill(asked, Fallback));
            var target = CommonOptions.ModelTarget(parse.GetValue(device)!, parse.GetValue(dtype), dir);

            var cache = CommonOptions.Cache(parse.GetValue(maxContext), maxSessions: 1);
            using var generator = parse.GetValue(quiet)
                ? LocalGenerator.Load(dir, target, cache)
                : Progress.Run("loading", report => LocalGenerator.Load(dir, target, cache, (done, total) => report(done, total, Path.GetFileName(Path.GetFullPath(dir)))), transient: true);
            var stdout = Console.Out;
            var result = generator.Generate(text, options, delta =>
            {
                stdout.Write(delta);
                stdout.Flush();
            });
            stdout.WriteLine();
            if (!parse.GetValue(quiet))
            {
                Console.Error.WriteLine(
                    $"[actorllm] {Path.GetFileName(Path.GetFullPath(dir))} on {target}: {result.PromptIds.Length} prompt tokens, " +
                    $"{result.GeneratedIds.Length} generated ({result.Finish}), prefill {result.Prefill.TotalMilliseconds:F1} ms, " +
                    $"decode {result.DecodeTokensPerSecond:F1} tokens/s");
            }

            return CliApp.ExitOk;
        });
        return command;
    }

    private static async Task<int> OnPoolAsync(Http.GatewayClient client, string prompt, GenerationOptions options, bool quiet, CancellationToken cancel)
    {
        var stdout = Console.Out;
        var result = await client.CompleteAsync(prompt, WireOptions.ToWire(options), delta =>
        {
            stdout.Write(delta);
            stdout.Flush();
        }, cancel);
        stdout.WriteLine();
        if (!quiet)
        {
            foreach (string line in JobReport.Lines(result))
            {
                Console.Error.WriteLine("[actorllm] " + line);
            }

            Console.Error.WriteLine($"[actorllm] route: {string.Join(" -> ", result.Route)}");
        }

        return CliApp.ExitOk;
    }
}
