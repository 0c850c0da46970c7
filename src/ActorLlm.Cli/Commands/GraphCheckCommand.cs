using System.CommandLine;
using ActorLlm.Inference.Benchmarks;
using ActorLlm.Inference.Checkpoints;
using ActorLlm.Inference.Execution;
using ActorLlm.Protocol;

namespace ActorLlm.Cli.Commands;

/// <summary>
/// <c>actorllm graph-check</c> (GPU machines with the native library): decode by CUDA graph replay equals the same pass
/// run eagerly, bit for bit, in every row bucket; many replays leak nothing. See <see cref="GraphCheck"/>.
/// </summary>
public static class GraphCheckCommand
{
    public static Command Create()
    {
        var model = CommonOptions.Model();
        var device = CommonOptions.Device();
        var dtype = CommonOptions.DType();
        var sessions = new Option<int>("--sessions") { Description = "KV cache sessions (the largest row bucket)", DefaultValueFactory = _ => 64 };
        var context = new Option<int>("--context") { Description = "KV cache positions per session", DefaultValueFactory = _ => 512 };
        var replays = new Option<int>("--replays") { Description = "Replays of one step for the leak check", DefaultValueFactory = _ => 10_000 };
        var command = new Command("graph-check", "Check CUDA-graph decode against eager decode (GPU)") { model, device, dtype, sessions, context, replays };
        command.SetAction(parse =>
        {
            var target = CommonOptions.Target(parse.GetValue(device)!, parse.GetValue(dtype)!);
            using var source = Checkpoint.Open(CommonOptions.ResolveModel(parse.GetValue(model)));
            using var stage = StageExecutor.Load(source, UnitRange.Whole(source.Config.NumLayers), target, new KvCacheOptions(parse.GetValue(sessions), parse.GetValue(context)));
            Console.Out.WriteLine($"# graph-check: {Path.GetFileName(source.Directory.TrimEnd('/'))} on {target}: {stage.PathDescription}");
            bool ok = GraphCheck.Run(stage, parse.GetValue(replays), line =>
            {
                Console.Out.WriteLine(line);
                Console.Out.Flush();
            });
            Console.Out.WriteLine(ok ? "graph-check: OK" : "graph-check: FAILED");
            return ok ? CliApp.ExitOk : CliApp.ExitError;
        });
        return command;
    }
}
