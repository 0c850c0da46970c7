using System.CommandLine;
using ActorLlm.Inference.Checkpoints;

namespace ActorLlm.Cli.Commands;

/// <summary><c>actorllm convert HF_DIR STORE_DIR [--weights source|int8]</c>: one safetensors file per unit plus manifest.json.</summary>
public static class ConvertCommand
{
    public static Command Create()
    {
        var source = new Argument<string>("hf-dir") { Description = "Hugging Face model directory" };
        var target = new Argument<string>("store-dir") { Description = "Unit store to write" };
        var overwrite = new Option<bool>("--overwrite") { Description = "Replace a store of another model in store-dir" };
        var weights = new Option<string>("--weights")
        {
            Description = "source: keep the checkpoint's dtype (bytes copied); int8: the layers' projection weights as symmetric per-output-channel absmax int8 with f32 scales",
            DefaultValueFactory = _ => "source",
        };
        weights.AcceptOnlyFromAmong("source", "int8");
        var command = new Command("convert", "Split a Hugging Face checkpoint into a unit store") { source, target, overwrite, weights };
        command.SetAction(parse =>
        {
            var options = new ConvertOptions
            {
                Overwrite = parse.GetValue(overwrite),
                Weights = WeightFormats.Parse(parse.GetValue(weights)!),
            };
            var result = Progress.Run(
                "converting",
                report => UnitStoreWriter.Convert(
                    parse.GetValue(source)!,
                    parse.GetValue(target)!,
                    options with { Progress = p => report(p.BytesWritten, p.TotalTensorBytes, $"{p.UnitName} ({p.UnitsDone}/{p.UnitCount})") }));
            Console.Out.WriteLine(
                $"wrote {result.Units} units ({result.Bytes:N0} bytes, weights {result.Manifest.Weights.Name()}) to {result.Directory} in {result.Elapsed.TotalSeconds:F1} s" +
                (result.SkippedTensors.Count > 0 ? $"; skipped unused tensors: {string.Join(", ", result.SkippedTensors)}" : ""));
            return 0;
        });
        return command;
    }
}
