using System.CommandLine;
using System.Globalization;
using ActorLlm.Inference;
using ActorLlm.Inference.Generation;

namespace ActorLlm.Cli.Commands;

/// <summary><c>actorllm score --prompt Q --choice A --choice B</c>: each choice's log-probability, best first.</summary>
public static class ScoreCommand
{
    public static Command Create()
    {
        var model = CommonOptions.Model();
        var device = CommonOptions.Device();
        var dtype = CommonOptions.ModelDType();
        var prompt = CommonOptions.Prompt();
        var promptFile = CommonOptions.PromptFile();
        var choices = new Option<string[]>("--choice", "-c") { Description = "A candidate continuation (repeat for each)", Required = true };
        var cluster = ClusterOptions.Cluster();
        var apiKey = ClusterOptions.ApiKey();
        var timeout = ClusterOptions.Timeout();
        var command = new Command("score", "Rank candidate continuations of a prompt by log-probability, here or on a pool (--cluster)")
        {
            model, device, dtype, prompt, promptFile, choices, cluster, apiKey, timeout,
        };
        command.SetAction(async (parse, cancel) =>
        {
            var candidates = parse.GetValue(choices) ?? [];
            if (candidates.Length == 0)
            {
                throw new InvalidRequestException("give at least one --choice");
            }

            string text = CommonOptions.ReadPrompt(parse.GetValue(prompt), parse.GetValue(promptFile));
            if (parse.GetValue(cluster) is string url)
            {
                ClusterOptions.RefuseLocalOptions(parse, model, device, dtype);
                using var client = ClusterOptions.Client(url, parse.GetValue(apiKey), parse.GetValue(timeout));
                var scored = await client.ChoicesAsync(text, candidates, cancel);
                Print(scored.Select(s => new ChoiceScore(s.Index, s.Choice, s.LogProbability, s.Tokens)));
                return CliApp.ExitOk;
            }

            string dir = CommonOptions.ResolveModel(parse.GetValue(model));
            var target = CommonOptions.ModelTarget(parse.GetValue(device)!, parse.GetValue(dtype), dir);
            using var generator = LocalGenerator.Load(dir, target, CommonOptions.Cache(2048, maxSessions: Math.Min(candidates.Length, 64)));
            Print(generator.Score(text, candidates));
            return CliApp.ExitOk;
        });
        return command;
    }

    public static void Print(IEnumerable<ChoiceScore> scores)
    {
        foreach (var s in scores)
        {
            Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{s.LogProbability:F4}\t{s.Choice}"));
        }
    }
}
