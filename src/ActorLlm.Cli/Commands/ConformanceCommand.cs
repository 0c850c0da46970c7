using System.CommandLine;
using System.Globalization;
using ActorLlm.Inference.Conformance;

namespace ActorLlm.Cli.Commands;

/// <summary>
/// <c>actorllm conformance DIR...</c>: compares this implementation with the outputs Hugging Face transformers
/// computed for each fixture (a checkpoint plus golden.json) on the chosen device and dtype.
/// </summary>
public static class ConformanceCommand
{
    public static Command Create()
    {
        var fixtures = new Argument<string[]>("fixture") { Description = "Fixture directories (checkpoint + golden.json)", Arity = ArgumentArity.OneOrMore };
        var device = CommonOptions.Device();
        var dtype = CommonOptions.DType();
        var tolerance = new Option<double>("--tolerance") { Description = "Largest acceptable logit difference", DefaultValueFactory = _ => 1e-4 };
        var command = new Command("conformance", "Check logits and greedy ids against Hugging Face golden outputs") { fixtures, device, dtype, tolerance };
        command.SetAction(parse =>
        {
            var target = CommonOptions.Target(parse.GetValue(device)!, parse.GetValue(dtype)!);
            double limit = parse.GetValue(tolerance);
            bool ok = true;
            foreach (var dir in parse.GetValue(fixtures)!)
            {
                var r = ConformanceCheck.Run(dir, target);
                bool pass = r.MaxLogitDiff <= limit && r.GreedyIdentical;
                ok &= pass;
                Console.Out.WriteLine(string.Create(
                    CultureInfo.InvariantCulture,
                    $"{r.Fixture,-28} {target}: max |logit diff| {r.MaxLogitDiff:E2}, greedy identical {r.GreedyMatches}/{r.Cases} " +
                    $"(first divergence {string.Join(",", r.FirstDivergence)}) {(pass ? "PASS" : "FAIL")}"));
            }

            return ok ? CliApp.ExitOk : CliApp.ExitError;
        });
        return command;
    }
}
