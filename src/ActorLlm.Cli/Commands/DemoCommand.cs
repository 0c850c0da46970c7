using System.CommandLine;
using System.Globalization;
using ActorLlm.Cli.Pool;
using ActorLlm.Inference.Generation;
using ActorLlm.Protocol.Messages;

namespace ActorLlm.Cli.Commands;

/// <summary>
/// <c>actorllm demo</c>: a local pool — a gateway and N worker processes on 127.0.0.1 serving the bundled model —
/// prints the placement map, generates across the workers through the gateway's API, prints the text and per-stage
/// timings, and shuts everything down. With <c>--serve</c> it keeps the pool running instead and serves the API: the
/// first stdout lines are <c>url: http://127.0.0.1:PORT/v1</c> and <c>api-key: KEY</c> (a key made for this run),
/// until Ctrl-C or SIGTERM stops every process.
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
        var serve = new Option<bool>("--serve") { Description = "Keep the pool running and serve its OpenAI-compatible API until Ctrl-C" };
        var httpPort = new Option<int>("--http-port") { Description = "The API's port with --serve (0 = any free one)", DefaultValueFactory = _ => 8080 };
        var command = new Command("demo", "Run a local pool (gateway + workers as processes) and generate across it, or serve its API (--serve)")
        {
            workers, prompt, maxTokens, model, redundancy, keep, serve, httpPort,
        };
        command.SetAction(async (parse, cancel) =>
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
                var run = new Run(CommonOptions.ResolveModel(parse.GetValue(model)), dir, n, parse.GetValue(redundancy), parse.GetValue(prompt) ?? "", options);
                await (parse.GetValue(serve) ? ServeAsync(run, parse.GetValue(httpPort), cancel) : RunAsync(run));
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

    private sealed record Run(string Model, string Dir, int Workers, int Redundancy, string Prompt, GenerationOptions Options);

    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(120);

    private static async Task RunAsync(Run run)
    {
        await using var pool = await StartAsync(run, httpPort: 0);
        try
        {
            using var client = new Http.GatewayClient(pool.ApiUrl, pool.ApiKey, s_timeout);
            PrintPlacement(await client.WaitForAsync(s => Ready(s, run.Workers), s_timeout, TimeSpan.FromMilliseconds(250)));
            Console.Out.WriteLine();
            var result = await client.CompleteAsync(run.Prompt, WireOptions.ToWire(run.Options), text =>
            {
                Console.Out.Write(text);
                Console.Out.Flush();
            });
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

    /// <summary>The pool, serving until <paramref name="cancel"/> (Ctrl-C, SIGTERM); the URL and key come first on stdout.</summary>
    private static async Task ServeAsync(Run run, int httpPort, CancellationToken cancel)
    {
        await using var pool = await StartAsync(run, httpPort);
        Console.Out.WriteLine($"url: {pool.ApiUrl}");
        Console.Out.WriteLine($"api-key: {pool.ApiKey}");
        Console.Out.Flush();
        try
        {
            using var client = new Http.GatewayClient(pool.ApiUrl, pool.ApiKey, s_timeout);
            PrintPlacement(await client.WaitForAsync(s => Ready(s, run.Workers), s_timeout, TimeSpan.FromMilliseconds(250)));
            Console.Out.WriteLine($"dashboard: {pool.ApiUrl[..^"/v1".Length]}/");
            Console.Out.Flush();
            Console.Error.WriteLine("[demo] serving; Ctrl-C stops the pool");
            await Task.Delay(Timeout.Infinite, cancel);
        }
        catch (OperationCanceledException) when (cancel.IsCancellationRequested)
        {
            Console.Error.WriteLine("[demo] stopping the pool");
        }
        catch
        {
            Console.Error.WriteLine(pool.Logs());
            throw;
        }
    }

    private static async Task<LocalPool> StartAsync(Run run, int httpPort)
    {
        Console.Error.WriteLine($"[demo] starting a gateway and {run.Workers} worker(s) on 127.0.0.1 (logs in {run.Dir})");
        var pool = await LocalPool.StartAsync(new LocalPoolOptions(Path.GetFullPath(run.Model), run.Dir, run.Redundancy, HttpPort: httpPort), s_timeout);
        try
        {
            await Task.WhenAll(Enumerable.Range(1, run.Workers).Select(i => pool.AddWorkerAsync($"worker-{i}", s_timeout)));
            if (pool.ApiUrl.Length == 0)
            {
                throw new InvalidOperationException("the gateway printed no API URL");
            }

            return pool;
        }
        catch
        {
            Console.Error.WriteLine(pool.Logs());
            await pool.DisposeAsync();
            throw;
        }
    }

    private static void PrintPlacement(StatusMessages.ClusterStatus status)
    {
        var inv = CultureInfo.InvariantCulture;
        Console.Out.WriteLine($"placement ({status.Layers} layers, {status.UnitCount} units, redundancy {status.RedundancyAchieved} of {status.RedundancyRequested}, route version {status.RouteVersion}):");
        foreach (var d in status.Devices.OrderBy(d => d.ReplicaGroup).ThenBy(d => d.Serving?.Start))
        {
            Console.Out.WriteLine(string.Create(inv, $"  {d.Device.Label,-16} {d.Serving?.Describe(status.Layers) ?? "spare",-24} {d.Device.Node}"));
        }
    }

    /// <summary>Every worker registered and serving (a plan made before the last worker registered is in place too).</summary>
    private static bool Ready(StatusMessages.ClusterStatus s, int workers) =>
        s.Devices.Length == workers && s.ServesPlan() && s.Devices.All(d => d.Serving is not null);
}
