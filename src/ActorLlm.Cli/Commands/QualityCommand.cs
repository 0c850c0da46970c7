using System.CommandLine;
using System.Globalization;
using ActorLlm.Inference.Benchmarks;
using ActorLlm.Inference.Checkpoints;

namespace ActorLlm.Cli.Commands;

/// <summary>
/// <c>actorllm quality --model A --compare B</c>: how far model B (e.g. an int8 store) is from reference A (the store
/// it was converted from): max |logit difference| over a fixed prompt set, greedy agreement, and perplexity of both on
/// texts A samples with fixed seeds. One model is resident at a time.
/// </summary>
public static class QualityCommand
{
    public static Command Create()
    {
        var model = CommonOptions.Model();
        model.Description = "Reference model (default: $ACTORLLM_MODEL or the bundled stories260K)";
        var compare = new Option<string>("--compare") { Description = "The model compared with it (e.g. a store written by convert --weights int8)", Required = true };
        var device = CommonOptions.Device();
        var dtype = CommonOptions.DType();
        var compareDType = new Option<string?>("--compare-dtype") { Description = "Run the compared model in this dtype (default: --dtype); e.g. --compare A --compare-dtype bf16 measures what bf16 rounding alone does" };
        var compareDevice = new Option<string?>("--compare-device") { Description = "Run the compared model on this device (default: --device); e.g. --device cpu --compare-device cuda measures how far two devices drift apart" };
        var greedy = new Option<int>("--greedy-tokens") { Description = "Tokens generated greedily from each prompt (end of sequence does not stop it)", DefaultValueFactory = _ => 500 };
        var prompts = new Option<string[]>("--prompt") { Description = "A prompt (repeatable; default: four fixed ones, the first empty = BOS)", AllowMultipleArgumentsPerToken = false };
        var held = new Option<int>("--held-texts") { Description = "Texts the reference samples (temperature 1, fixed seeds) for both to score; 0 = none", DefaultValueFactory = _ => 8 };
        var heldTokens = new Option<int>("--held-tokens") { Description = "Longest held text in tokens", DefaultValueFactory = _ => 256 };
        var seed = new Option<ulong>("--seed") { Description = "Seed of the first held text (text i: seed + i)", DefaultValueFactory = _ => 1UL };
        var command = new Command("quality", "Compare a model with a reference (e.g. int8 weights with the source): logits, greedy agreement, perplexity")
        {
            model, compare, device, dtype, compareDType, compareDevice, greedy, prompts, held, heldTokens, seed,
        };
        command.SetAction(parse =>
        {
            string a = CommonOptions.ResolveModel(parse.GetValue(model));
            string b = parse.GetValue(compare)!;
            var target = CommonOptions.Target(parse.GetValue(device)!, parse.GetValue(dtype)!);
            var given = parse.GetValue(prompts);
            var options = new QualityOptions(
                given is { Length: > 0 } ? given : QualityOptions.DefaultPrompts,
                Positive(parse.GetValue(greedy), "--greedy-tokens"),
                NonNegative(parse.GetValue(held), "--held-texts"),
                Positive(parse.GetValue(heldTokens), "--held-tokens"),
                parse.GetValue(seed));
            var targetB = CommonOptions.Target(parse.GetValue(compareDevice) ?? parse.GetValue(device)!, parse.GetValue(compareDType) ?? parse.GetValue(dtype)!);
            var report = WeightQuality.Compare(a, b, target, options, line => Console.Error.WriteLine(line), targetB);
            Console.Out.Write(ToText(report));
            return CliApp.ExitOk;
        });
        return command;
    }

    private static int Positive(int value, string name) =>
        value > 0 ? value : throw new Inference.InvalidRequestException($"{name} must be > 0, got {value}");

    private static int NonNegative(int value, string name) =>
        value >= 0 ? value : throw new Inference.InvalidRequestException($"{name} must be >= 0, got {value}");

    public static string ToText(QualityReport r)
    {
        var inv = CultureInfo.InvariantCulture;
        var s = new System.Text.StringBuilder();
        string where = r.A.Target == r.B.Target ? $" on {r.A.Target}" : string.Empty;
        string onA = r.A.Target == r.B.Target ? string.Empty : $" on {r.A.Target}";
        string onB = r.A.Target == r.B.Target ? string.Empty : $" on {r.B.Target}";
        s.AppendLine(inv, $"# quality{where}: A = {r.A.Directory} ({r.A.Weights.Name()}{onA}), B = {r.B.Directory} ({r.B.Weights.Name()}{onB})");
        s.AppendLine(inv, $"weight files: A {Mib(r.A.DiskBytes)}, B {Mib(r.B.DiskBytes)} ({Ratio(r.B.DiskBytes, r.A.DiskBytes)} of A)");
        s.AppendLine(inv, $"weights in memory (estimate): A {Mib(r.A.EstimatedWeightBytes)}, B {Mib(r.B.EstimatedWeightBytes)} ({Ratio(r.B.EstimatedWeightBytes, r.A.EstimatedWeightBytes)} of A)");
        if (r.A.DeviceBytesAllocated is long da && r.B.DeviceBytesAllocated is long db)
        {
            s.AppendLine(inv, $"device memory allocated by the loaded stage (weights + KV cache {Mib(r.A.KvCacheBytes)}): A {Mib(da)}, B {Mib(db)} ({Ratio(db, da)} of A)");
        }

        s.AppendLine(inv, $"logits: {r.LogitPositions} prompt positions of {r.Greedy.Count} prompts: max |A - B| {r.MaxLogitDifference:G4}, mean {r.MeanLogitDifference:G4}");
        var v = r.Verification;
        s.AppendLine(inv, $"verification (LogprobAgreement, top {WeightQuality.VerificationTop}, B audits A's greedy token): {v.Rows} rows: distance max {v.MaxDistance:G4}, p99 {v.P99Distance:G4}, p999 {v.P999Distance:G4}, mean {v.MeanDistance:G4} nats (chosen token alone: max {v.MaxChosenDifference:G4}); greedy gap max {v.MaxGreedyGap:G4} nats ({v.ArgmaxDiffers} rows where B holds a token above A's)");
        s.AppendLine(inv, $"greedy agreement: {r.GreedyIdentical}/{r.GreedyTokens} identical tokens ({100.0 * r.GreedyIdentical / Math.Max(1, r.GreedyTokens):0.0}%)");
        foreach (var g in r.Greedy)
        {
            string prompt = g.Prompt.Length == 0 ? "(BOS)" : $"\"{g.Prompt}\"";
            s.AppendLine(inv, $"  {prompt,-34} {g.Identical,4}/{g.Tokens} identical ({100 * g.Fraction:0.0}%), first divergence at token {(g.FirstDivergence is int f ? f.ToString(inv) : "none")}");
        }

        if (r.HeldTexts > 0)
        {
            s.AppendLine(inv, $"held text: {r.HeldTexts} texts sampled by A (temperature 1, fixed seeds), {r.HeldTokens} tokens scored by both");
            s.AppendLine(inv, $"  perplexity A {r.PerplexityA:F4}, B {r.PerplexityB:F4} ({100 * ((r.PerplexityB / r.PerplexityA) - 1):+0.00;-0.00}%); "
                + $"mean NLL B - A {r.MeanNllDifference:G3} nats/token (estimates KL(A||B)); top-1 agreement {100 * r.HeldTop1Agreement:0.00}%");
        }

        return s.ToString();
    }

    private static string Mib(long bytes) => (bytes / (1024.0 * 1024.0)).ToString("0.000", CultureInfo.InvariantCulture) + " MiB";

    private static string Ratio(long a, long b) => b == 0 ? "n/a" : (100.0 * a / b).ToString("0.0", CultureInfo.InvariantCulture) + "%";
}
