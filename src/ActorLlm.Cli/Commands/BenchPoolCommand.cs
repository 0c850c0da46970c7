using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using ActorLlm.Cli.Bench;
using ActorLlm.Cli.Pool;
using ActorLlm.Cluster.Client;
using ActorLlm.Inference.Devices;
using ActorLlm.Inference.Execution;
using ActorLlm.Inference.Generation;
using ActorLlm.Protocol.Messages;

namespace ActorLlm.Cli.Commands;

/// <summary>
/// <c>actorllm bench-pool</c>: the pool's figures on this machine, each printed as it is measured:
/// decode tokens/s in one process vs through a local pool of worker processes (the pipeline's overhead), aggregate
/// tokens/s with concurrent jobs, the time a joining worker takes until it serves, and the stall a SIGKILLed worker
/// causes in a running job (detection plus replay on a replica).
/// </summary>
public static class BenchPoolCommand
{
    public static Command Create()
    {
        var workers = new Option<int>("--workers") { Description = "Worker processes in the pipeline", DefaultValueFactory = _ => 3 };
        var tokens = new Option<int>("--tokens") { Description = "Tokens per job", DefaultValueFactory = _ => 200 };
        var concurrent = new Option<int>("--concurrent") { Description = "Concurrent jobs for the aggregate figure", DefaultValueFactory = _ => 8 };
        var repeat = new Option<int>("--repeat") { Description = "Times the single-process, one-job and concurrent figures are measured (each printed: the first runs are the JIT's warm-up)", DefaultValueFactory = _ => 1 };
        var set = new Option<string[]>("--set") { Description = "A setting for every node of the pools as path=value (repeatable; see actorllm node --set)" };
        var pipelineOnly = new Option<bool>("--pipeline-only") { Description = "Only the single-process, one-job and concurrent figures (no join, no failover)" };
        var model = CommonOptions.Model();
        var command = new Command("bench-pool", "Measure a local pool: pipeline overhead, concurrency, join and failover times")
        {
            workers, tokens, concurrent, repeat, set, pipelineOnly, model,
        };
        command.SetAction(async (parse, _) =>
        {
            string dir = Path.Combine(Path.GetTempPath(), $"actorllm-bench-{Environment.ProcessId}");
            try
            {
                string[] nodeArgs = [.. (parse.GetValue(set) ?? []).SelectMany(s => new[] { "--set", s })];
                await RunAsync(Path.GetFullPath(CommonOptions.ResolveModel(parse.GetValue(model))), dir, parse.GetValue(workers), parse.GetValue(tokens), parse.GetValue(concurrent), Math.Max(1, parse.GetValue(repeat)), nodeArgs, parse.GetValue(pipelineOnly));
                return CliApp.ExitOk;
            }
            finally
            {
                Directory.Delete(dir, recursive: true);
            }
        });
        return command;
    }

    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(180);


    private static void Report(string line)
    {
        Console.Out.WriteLine(line);
        Console.Out.Flush();
    }

    private static async Task RunAsync(string model, string dir, int workers, int tokens, int concurrent, int repeat, string[] nodeArgs, bool pipelineOnly)
    {
        var inv = CultureInfo.InvariantCulture;
        var options = new WireGenerationOptions(tokens, WireSampling.Greedy, [], StopAtEos: false);
        Report($"# bench-pool: {Path.GetFileName(model)}, {tokens} tokens per job, greedy, {Environment.ProcessorCount} cores{(nodeArgs.Length == 0 ? "" : ", nodes with " + string.Join(" ", nodeArgs))}");

        string reference;
        using (var local = LocalGenerator.Load(model, ComputeTarget.Cpu, new KvCacheOptions(1, 512)))
        {
            var generation = new GenerationOptions { MaxTokens = tokens, StopAtEos = false };
            local.Generate("", generation with { MaxTokens = 16 });
            reference = "";
            for (int run = 0; run < repeat; run++)
            {
                var r = local.Generate("", generation);
                reference = r.Text;
                Report(string.Create(inv, $"single process:            decode {r.DecodeTokensPerSecond,8:F1} tokens/s ({r.Decode.TotalMilliseconds / Math.Max(1, r.GeneratedIds.Length - 1):F2} ms/token)"));
            }
        }

        await using (var pool = await LocalPool.StartAsync(new LocalPoolOptions(model, Path.Combine(dir, "pipeline"), ExtraNodeArgs: nodeArgs), s_timeout))
        {
            await Task.WhenAll(Enumerable.Range(1, workers).Select(i => pool.AddWorkerAsync($"worker-{i}", s_timeout)));
            await using var client = await PoolClient.ConnectAsync(pool.Seed, s_timeout, settings: pool.ClientSettings());
            var placed = await client.WaitForAsync(s => Placed(s, workers), s_timeout);
            await client.GenerateAsync("", options with { MaxTokens = 16 }, null, s_timeout);
            for (int run = 0; run < repeat; run++)
            {
                var cpuBefore = pool.Nodes.Select(n => n.ProcessorTime).ToArray();
                var one = await client.GenerateAsync("", options, null, s_timeout);
                var cpu = pool.Nodes.Select((n, i) => (n.ProcessorTime - cpuBefore[i]).TotalMilliseconds / Math.Max(1, one.GeneratedTokens)).ToArray();
                if (one.Text != reference)
                {
                    throw new InvalidOperationException("the pool's text differs from the single process's");
                }

                Report(string.Create(inv, $"pool of {workers} workers ({placed.Devices.Count(d => d.Serving is not null)} stages): decode {JobReport.DecodeTokensPerSecond(one),8:F1} tokens/s ({one.DecodeMs / Math.Max(1, one.GeneratedTokens - 1):F2} ms/token, of which stage compute {one.Stages.Sum(s => s.DecodeMs) / Math.Max(1, one.GeneratedTokens - 1):F2} ms); CPU per token {cpu.Sum():F2} ms ({string.Join(" + ", cpu.Select(c => c.ToString("F2", inv)))})"));
            }

            var clock = Stopwatch.StartNew();
            for (int run = 0; run < repeat; run++)
            {
                clock.Restart();
                var jobs = await Task.WhenAll(Enumerable.Range(0, concurrent).Select(_ => client.GenerateAsync("", options, null, s_timeout)));
                double seconds = clock.Elapsed.TotalSeconds;
                Report(string.Create(inv, $"pool, {concurrent} concurrent jobs:      {jobs.Sum(j => j.GeneratedTokens) / seconds,8:F1} tokens/s aggregate ({seconds:F1} s wall)"));
            }

            // The same jobs through the gateway's HTTP API (streamed, as users submit them) and through the member client,
            // each timed from the client: time to first token and decode speed.
            using var api = new Http.GatewayClient(pool.ApiUrl, pool.ApiKey, s_timeout);
            await api.CompleteAsync("", options with { MaxTokens = 16 }, null);
            for (int run = 0; run < repeat; run++)
            {
                var member = await TimedJob.Run(onText => client.GenerateAsync("", options, onText, s_timeout));
                var http = await TimedJob.Run(onText => api.CompleteAsync("", options, onText));
                if (http.Result.Text != reference)
                {
                    throw new InvalidOperationException("the API's text differs from the single process's");
                }

                Report(string.Create(inv, $"one job, member client:    first token {member.FirstMs,6:F1} ms, then {member.DecodeTokensPerSecond,8:F1} tokens/s"));
                Report(string.Create(inv, $"one job, HTTP API (SSE):   first token {http.FirstMs,6:F1} ms, then {http.DecodeTokensPerSecond,8:F1} tokens/s"));
                clock.Restart();
                var streams = await Task.WhenAll(Enumerable.Range(0, concurrent).Select(_ => TimedJob.Run(onText => api.CompleteAsync("", options, onText))));
                double seconds = clock.Elapsed.TotalSeconds;
                var firsts = streams.Select(t => t.FirstMs).Order().ToArray();
                Report(string.Create(inv, $"{concurrent} jobs, HTTP API (SSE):  {streams.Sum(t => t.Result.GeneratedTokens) / seconds,8:F1} tokens/s aggregate ({seconds:F1} s wall), first token median {firsts[firsts.Length / 2]:F1} ms, max {firsts[^1]:F1} ms"));
            }

            if (pipelineOnly)
            {
                return;
            }

            clock.Restart();
            var worker = await pool.AddWorkerAsync($"worker-{workers + 1}", s_timeout);
            double up = clock.Elapsed.TotalSeconds;
            string label = $"worker-{workers + 1}:cpu";
            await client.WaitForAsync(s => s.Devices.Any(d => d.Device.Label == label), s_timeout);
            double registered = clock.Elapsed.TotalSeconds;
            await client.WaitForAsync(s => s.Devices.Any(d => d.Device.Label == label && d.Serving is not null && d.Serving == d.Assigned) && Placed(s, workers + 1), s_timeout);
            Report(string.Create(inv, $"join: process start -> node up {up:F1} s, registered {registered:F1} s, serving {clock.Elapsed.TotalSeconds:F1} s"));
        }

        await using (var pool = await LocalPool.StartAsync(new LocalPoolOptions(model, Path.Combine(dir, "failover"), Redundancy: 2, ExtraNodeArgs: nodeArgs), s_timeout))
        {
            await Task.WhenAll(Enumerable.Range(1, 4).Select(i => pool.AddWorkerAsync($"worker-{i}", s_timeout)));
            await using var client = await PoolClient.ConnectAsync(pool.Seed, s_timeout, settings: pool.ClientSettings());
            await client.WaitForAsync(s => Placed(s, 4), s_timeout);
            var arrivals = new List<TimeSpan>();
            var clock = Stopwatch.StartNew();
            var started = new TaskCompletionSource();
            var routed = new TaskCompletionSource<JobMessages.JobRouted>();
            var job = client.GenerateAsync("", options, _ =>
            {
                lock (arrivals)
                {
                    arrivals.Add(clock.Elapsed);
                    if (arrivals.Count == 30)
                    {
                        started.TrySetResult();
                    }
                }
            }, s_timeout, r => routed.TrySetResult(r));
            var route = await routed.Task;
            await started.Task;
            var victim = pool.Nodes.Single(n => n.Up.Result == route.Nodes[0]);
            TimeSpan killedAt = clock.Elapsed;
            victim.Kill();
            var result = await job;
            TimeSpan next;
            lock (arrivals)
            {
                next = arrivals.FirstOrDefault(a => a > killedAt);
            }

            Report(string.Create(inv, $"failover: SIGKILL of {victim.Name} mid-decode -> next text after {(next - killedAt).TotalMilliseconds:F0} ms (detect + replay of {30 + 1} tokens on a replica); failovers {result.Failovers}; text unchanged: {result.Text == reference}"));
        }
    }

    /// <summary>Every device registered and serving (a plan made before the last one registered is in place too).</summary>
    private static bool Placed(StatusMessages.ClusterStatus s, int devices) =>
        s.Devices.Length == devices && s.ServesPlan() && s.Devices.All(d => d.Serving is not null);
}
