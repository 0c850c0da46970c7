using System.CommandLine;
using System.Globalization;
using ActorLlm.Cli.Pool;
using ActorLlm.Cluster.Client;
using ActorLlm.Inference.Generation;
using ActorLlm.Protocol.Messages;

namespace ActorLlm.Cli.Commands;

/// <summary>
/// <c>actorllm demo</c>: a local pool — a gateway and N worker processes on 127.0.0.1 serving the bundled model —
/// prints the placement map, generates across the workers, prints the text and per-stage timings, and shuts
/// everything down.
/// </summary>
public static class DemoCommand
{
    public static Command Create()
    {
        var workers = new Option<int>("--workers", "-w") { Description = "Worker processes", DefaultValueFactory = _ => 3 };
        var prompt = CommonOptions.Prompt();
        var maxTokens = new Option<int>("--max-tokens", "-n") { Description = "Tokens to generate", DefaultValueFactory = _ => 64 };
        var model = CommonOptions.Model();
        var redundancy = new Option<int>("--redundancy") { Description = "Replicas of each unit (on distinct worker processes)", DefaultValueFactory = _ => 1 };
        var keep = new Option<bool>("--keep-logs") { Description = "Keep the node logs (printed path) instead of deleting them" };
        var command = new Command("demo", "Run a local pool (gateway + workers as processes) and generate across it")
        {
            workers, prompt, maxTokens, model, redundancy, keep,
        };
        command.SetAction(async (parse, _) =>
        {
            int n = parse.GetValue(workers);
            if (n < 1)
            {
                throw new Inference.InvalidRequestException("--workers must be at least 1");
            }

            string dir = Path.Combine(Path.GetTempPath(), $"actorllm-demo-{Environment.ProcessId}");
            var options = new GenerationOptions { MaxTokens = parse.GetValue(maxTokens) }.Validate();
            bool ok = false;
            try
            {
                await RunAsync(CommonOptions.ResolveModel(parse.GetValue(model)), dir, n, parse.GetValue(redundancy), parse.GetValue(prompt) ?? "", options);
                ok = true;
                return CliApp.ExitOk;
            }
            finally
            {
                if (parse.GetValue(keep) || !ok)
                {
                    Console.Error.WriteLine($"[demo] node logs kept in {dir}");
                }
                else
                {
                    Directory.Delete(dir, recursive: true);
                }
            }
        });
        return command;
    }

    private static async Task RunAsync(string model, string dir, int workers, int redundancy, string prompt, GenerationOptions options)
    {
        var timeout = TimeSpan.FromSeconds(120);
        var inv = CultureInfo.InvariantCulture;
        Console.Error.WriteLine($"[demo] starting a gateway and {workers} worker(s) on 127.0.0.1 (logs in {dir})");
        await using var pool = await LocalPool.StartAsync(new LocalPoolOptions(Path.GetFullPath(model), dir, redundancy), timeout);
        try
        {
            await Task.WhenAll(Enumerable.Range(1, workers).Select(i => pool.AddWorkerAsync($"worker-{i}", timeout)));
            await using var client = await PoolClient.ConnectAsync(pool.Seed, timeout);
            var status = await client.WaitForAsync(s => Ready(s, workers), timeout);

            Console.Out.WriteLine($"placement ({status.Layers} layers, {status.UnitCount} units, redundancy {status.RedundancyAchieved} of {status.RedundancyRequested}, route version {status.RouteVersion}):");
            foreach (var d in status.Devices.OrderBy(d => d.ReplicaGroup).ThenBy(d => d.Serving?.Start))
            {
                Console.Out.WriteLine(string.Create(inv, $"  {d.Device.Label,-16} {d.Serving?.Describe(status.Layers) ?? "spare",-24} {d.Device.Node}"));
            }

            Console.Out.WriteLine();
            var result = await client.GenerateAsync(prompt, WireOptions.ToWire(options), text =>
            {
                Console.Out.Write(text);
                Console.Out.Flush();
            }, timeout);
            Console.Out.WriteLine();
            Console.Out.WriteLine();
            foreach (string line in JobReport.Lines(result))
            {
                Console.Out.WriteLine(line);
            }
        }
        catch
        {
            Console.Error.WriteLine(pool.Logs());
            throw;
        }
    }

    /// <summary>Every worker registered and serving what the plan assigned it.</summary>
    private static bool Ready(StatusMessages.ClusterStatus s, int workers) =>
        s.Devices.Length == workers && s.ServesPlan();
}
