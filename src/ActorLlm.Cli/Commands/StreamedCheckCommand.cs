using System.CommandLine;
using ActorLlm.Inference.Benchmarks;
using ActorLlm.Inference.Checkpoints;

namespace ActorLlm.Cli.Commands;

/// <summary>
/// <c>actorllm streamed-check</c>: a stage that keeps <c>--resident-memory</c> of weights on the device and streams the
/// rest from host memory gives the logits of the same stage wholly resident, and leaks nothing. See <see cref="StreamedCheck"/>.
/// </summary>
public static class StreamedCheckCommand
{
    public static Command Create()
    {
        var model = CommonOptions.Model();
        var device = CommonOptions.Device();
        var dtype = CommonOptions.DType();
        var resident = new Option<string>("--resident-memory") { Description = "Weight bytes kept on the device (e.g. 4GiB)", DefaultValueFactory = _ => "4GiB" };
        var batch = new Option<int>("--batch") { Description = "Sessions decoded together", DefaultValueFactory = _ => 4 };
        var command = new Command("streamed-check", "Check a streamed stage against a resident one") { model, device, dtype, resident, batch };
        command.SetAction(parse =>
        {
            var target = CommonOptions.Target(parse.GetValue(device)!, parse.GetValue(dtype)!);
            using var source = Checkpoint.Open(CommonOptions.ResolveModel(parse.GetValue(model)));
            Console.Out.WriteLine($"# streamed-check: {Path.GetFileName(source.Directory.TrimEnd('/'))} on {target}, resident {parse.GetValue(resident)}");
            bool ok = StreamedCheck.Run(source, target, CommonOptions.ParseBytes(parse.GetValue(resident)!), line =>
            {
                Console.Out.WriteLine(line);
                Console.Out.Flush();
            }, batch: parse.GetValue(batch));
            Console.Out.WriteLine(ok ? "streamed-check: OK" : "streamed-check: FAILED");
            return ok ? CliApp.ExitOk : CliApp.ExitError;
        });
        return command;
    }
}
