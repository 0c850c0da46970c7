using System.CommandLine;
using ActorLlm.Inference.Generation;
using ActorLlm.Inference.Sampling;

namespace ActorLlm.Cli.Commands;

/// <summary><c>actorllm generate</c>: prints only the generated text on stdout, as it is produced.</summary>
public static class GenerateCommand
{
    public static Command Create()
    {
        var model = CommonOptions.Model();
        var device = CommonOptions.Device();
        var dtype = CommonOptions.DType();
        var maxContext = CommonOptions.MaxContext();
        var prompt = CommonOptions.Prompt();
        var promptFile = CommonOptions.PromptFile();
        var maxTokens = new Option<int>("--max-tokens", "-n") { Description = "Tokens to generate at most", DefaultValueFactory = _ => 128 };
        var temperature = new Option<float>("--temperature", "-t") { Description = "0 = greedy", DefaultValueFactory = _ => 0f };
        var topK = new Option<int>("--top-k") { Description = "0 = off", DefaultValueFactory = _ => 0 };
        var topP = new Option<float>("--top-p") { Description = "1 = off", DefaultValueFactory = _ => 1f };
        var penalty = new Option<float>("--repetition-penalty") { Description = "1 = off", DefaultValueFactory = _ => 1f };
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
            var options = new GenerationOptions
            {
                MaxTokens = parse.GetValue(maxTokens),
                Sampling = new SamplingParams
                {
                    Temperature = parse.GetValue(temperature),
                    TopK = parse.GetValue(topK),
                    TopP = parse.GetValue(topP),
                    RepetitionPenalty = parse.GetValue(penalty),
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
                return await OnPoolAsync(client, text, options, parse.GetValue(quiet), cancel);
            }

            string dir = CommonOptions.ResolveModel(parse.GetValue(model));
            var target = CommonOptions.Target(parse.GetValue(device)!, parse.GetValue(dtype)!);

            using var generator = LocalGenerator.Load(dir, target, CommonOptions.Cache(parse.GetValue(maxContext), maxSessions: 1));
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
