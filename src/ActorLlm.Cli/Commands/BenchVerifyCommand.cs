using System.Collections.Concurrent;
using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using ActorLlm.Cli.Bench;
using ActorLlm.Cli.Pool;
using ActorLlm.Cluster.Client;
using ActorLlm.Protocol.Messages;

namespace ActorLlm.Cli.Commands;

/// <summary>
/// <c>actorllm bench-verify</c>: what verification costs, on this machine. A local pool of a gateway, a trusted
/// worker and an honest volunteer worker (each holding the whole model, redundancy 2) runs rounds of concurrent jobs
/// (so the route cache puts about half on the volunteer), first with verification off, then on with each audit-every
/// asked for. Printed per setting: the jobs through the volunteer (end-to-end tokens/s, time to first text) and the
/// pool's aggregate tokens/s. Every job's text is checked against the first run's.
/// </summary>
public static class BenchVerifyCommand
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(180);

    public static Command Create()
    {
        var tokens = new Option<int>("--tokens") { Description = "Tokens per job", DefaultValueFactory = _ => 128 };
        var concurrent = new Option<int>("--concurrent") { Description = "Jobs per round, started together", DefaultValueFactory = _ => 2 };
        var rounds = new Option<int>("--rounds") { Description = "Rounds per setting (after one warm-up round)", DefaultValueFactory = _ => 5 };
        var every = new Option<int[]>("--audit-every") { Description = "actorllm.verification.audit-every values to measure (repeatable)", DefaultValueFactory = _ => [8] };
        var model = CommonOptions.Model();
        var command = new Command("bench-verify", "Measure what verification of volunteers costs in a local pool") { tokens, concurrent, rounds, every, model };
        command.SetAction(async (parse, _) =>
        {
            string dir = Path.Combine(Path.GetTempPath(), $"actorllm-bench-verify-{Environment.ProcessId}");
            try
            {
                await RunAsync(Path.GetFullPath(CommonOptions.ResolveModel(parse.GetValue(model))), dir, parse.GetValue(tokens), parse.GetValue(concurrent), Math.Max(1, parse.GetValue(rounds)), parse.GetValue(every) ?? [8]);
                return CliApp.ExitOk;
            }
            finally
            {
                Directory.Delete(dir, recursive: true);
            }
        });
        return command;
    }

    private static async Task RunAsync(string model, string dir, int tokens, int concurrent, int rounds, int[] auditEvery)
    {
        var inv = CultureInfo.InvariantCulture;
        var options = new WireGenerationOptions(tokens, WireSampling.Greedy, [], StopAtEos: false);
        Console.WriteLine($"# bench-verify: {Path.GetFileName(model)}, {tokens} tokens per job, {concurrent} jobs per round, {rounds} rounds, {Environment.ProcessorCount} cores");
        string? reference = null;
        foreach (int? n in new int?[] { null }.Concat(auditEvery.Select(a => (int?)a)))
        {
            string[] gateway = n is { } a ? ["--set", "actorllm.verification.enabled=on", "--set", $"actorllm.verification.audit-every={a}"] : [];
            await using var pool = await LocalPool.StartAsync(new LocalPoolOptions(model, Path.Combine(dir, n is null ? "off" : $"on-{n}"), Redundancy: 2, GatewayArgs: gateway), s_timeout);
            await Task.WhenAll(pool.AddWorkerAsync("worker-1", s_timeout), pool.AddWorkerAsync("volunteer-1", s_timeout, true, "--set", "actorllm.worker.trust=volunteer"));
            await using var client = await PoolClient.ConnectAsync(pool.Seed, s_timeout, settings: pool.ClientSettings());
            await client.WaitForAsync(s => s.Devices.Length == 2 && s.ServesPlan() && s.Devices.All(d => d.Serving is not null), s_timeout);

            var viaVolunteer = new List<TimedJob>();
            double tokensAll = 0, seconds = 0;
            for (int round = 0; round <= rounds; round++)
            {
                var clock = Stopwatch.StartNew();
                var routes = Enumerable.Range(0, concurrent).Select(_ => new ConcurrentQueue<JobMessages.JobRouted>()).ToArray();
                var jobs = await Task.WhenAll(Enumerable.Range(0, concurrent).Select(i =>
                    TimedJob.Run(onText => client.GenerateAsync("", options, onText, s_timeout, routes[i].Enqueue))));
                double wall = clock.Elapsed.TotalSeconds;
                foreach (var job in jobs)
                {
                    reference ??= job.Result.Text;
                    if (job.Result.Text != reference)
                    {
                        throw new InvalidOperationException("a job's text differs from the first run's");
                    }
                }

                if (round == 0)
                {
                    continue;  // warm-up (JIT, first caches)
                }

                tokensAll += jobs.Sum(j => j.Result.GeneratedTokens);
                seconds += wall;
                viaVolunteer.AddRange(jobs.Where((_, i) => routes[i].Any(r => r.Stages.Any(s => s.StartsWith("volunteer-1", StringComparison.Ordinal)))));
            }

            string setting = n is null ? "verification off        " : $"verification on, every {n,-2}";
            double endToEnd = viaVolunteer.Count == 0 ? 0 : viaVolunteer.Average(j => j.Result.GeneratedTokens / (j.LastMs / 1000));
            Console.WriteLine(string.Create(inv,
                $"{setting}: jobs through the volunteer {viaVolunteer.Count,3}: {endToEnd,7:F1} tokens/s end to end, first text median {TimedJob.Median(viaVolunteer.Select(j => j.FirstMs)),7:F1} ms; pool aggregate {tokensAll / seconds,7:F1} tokens/s"));
        }
    }
}
