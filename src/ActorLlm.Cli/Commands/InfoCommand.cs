using System.CommandLine;
using ActorLlm.Inference.Checkpoints;
using ActorLlm.Inference.Devices;

namespace ActorLlm.Cli.Commands;

/// <summary><c>actorllm info [DIR]</c>: architecture, parameters, bytes per unit and the memory estimate.</summary>
public static class InfoCommand
{
    public static Command Create()
    {
        var dir = new Argument<string?>("dir") { Description = "Model directory or unit store (default: the bundled model)", Arity = ArgumentArity.ZeroOrOne };
        var dtype = CommonOptions.DType();
        var context = new Option<int?>("--context") { Description = "Context length for the KV cache estimate (default: the model's)" };
        var command = new Command("info", "Describe a model: architecture, parameters, units, memory") { dir, dtype, context };
        command.SetAction(parse =>
        {
            using var source = Checkpoint.Open(CommonOptions.ResolveModel(parse.GetValue(dir)));
            Console.Out.Write(ModelInfo.Of(source).ToText(ComputeTarget.ParseDType(parse.GetValue(dtype)!), parse.GetValue(context)));
            return 0;
        });
        return command;
    }
}
