using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using ActorLlm.Cluster.Client;
using ActorLlm.Protocol.Messages;

namespace ActorLlm.Cli.Commands;

/// <summary>
/// <c>actorllm bench-cluster --cluster HOST:PORT</c>: decode speed of a running pool, measured from a client. For each
/// concurrency J, J jobs are submitted at once (prompts of --prompt-chars ASCII characters, greedy, EOS ignored) and
/// the aggregate is all generated tokens over the wall time from submission to the last completion; with J = 1 the
/// job's own decode rate is printed too. The mean decode batch per stage says how many steps each stage ran together
/// while the J jobs decoded (J at best).
/// </summary>
public static class BenchClusterCommand
{
    public static Command Create()
    {
        var cluster = ClusterOptions.Seed(required: true);
        var timeout = ClusterOptions.Timeout();
        var jobs = new Option<string>("--jobs") { Description = "Comma-separated concurrencies", DefaultValueFactory = _ => "1,16" };
        var chars = new Option<int>("--prompt-chars") { Description = "Prompt length in ASCII characters", DefaultValueFactory = _ => 128 };
        var newTokens = new Option<int>("--new-tokens") { Description = "Tokens generated per job", DefaultValueFactory = _ => 128 };
        var devices = new Option<int>("--wait-devices") { Description = "Wait until this many devices are registered and placed before measuring", DefaultValueFactory = _ => 1 };
        var api = new Option<string?>("--api") { Description = "Also measure the same jobs through this gateway URL's HTTP API (key: $ACTORLLM_API_KEY)" };
        var tls = new Option<string>("--tls") { Description = "on: join with this machine's pool credentials; off: a plain-TCP pool", DefaultValueFactory = _ => "on" };
        tls.AcceptOnlyFromAmong("on", "off");
        var command = new Command("bench-cluster", "Measure a running pool's decode speed from a client") { cluster, timeout, jobs, chars, newTokens, devices, api, tls };
        command.SetAction(async (parse, _) =>
        {
            var wait = TimeSpan.FromSeconds(parse.GetValue(timeout));
            int n = parse.GetValue(newTokens), p = parse.GetValue(chars);
            await using var client = await PoolClient.ConnectAsync(parse.GetValue(cluster)!, wait,
                settings: new Dictionary<string, string> { ["actorllm.tls.enabled"] = parse.GetValue(tls)! });
            int want = parse.GetValue(devices);
            var status = await client.WaitForAsync(
                s => s.Devices.Length >= want && s.ServesPlan(),
                wait);
            Console.Out.Write(StatusCommand.Format(status));
            var options = new WireGenerationOptions(n, WireSampling.Greedy, [], StopAtEos: false);
            await client.GenerateAsync(Prompt(p, 0), options with { MaxTokens = 8 }, null, wait);
            foreach (int j in LogitsCommand.ParseIds(parse.GetValue(jobs)!))
            {
                var clock = Stopwatch.StartNew();
                var member = await Task.WhenAll(Enumerable.Range(0, j).Select(i => Bench.TimedJob.Run(onText => client.GenerateAsync(Prompt(p, i + 1), options, onText, wait))));
                double seconds = clock.Elapsed.TotalSeconds;
                var results = member.Select(t => t.Result).ToArray();
                int tokens = results.Sum(r => r.GeneratedTokens);
                var one = results[0];
                double decode = JobReport.DecodeTokensPerSecond(one);
                Console.Out.WriteLine(string.Create(
                    CultureInfo.InvariantCulture,
                    $"jobs {j,3}: {tokens / seconds,9:F1} tokens/s aggregate ({tokens} tokens in {seconds:F2} s); first job: prefill {one.PrefillMs:F0} ms, decode {decode:F1} tokens/s; stages: {string.Join(", ", one.Stages.Select(s => $"{s.Stage} {(s.DecodeSteps > 0 ? s.DecodeMs / s.DecodeSteps : 0):F2} ms/step"))}; mean decode batch over all jobs: {JobReport.MeanDecodeBatches(results)}; time to first token median {Bench.TimedJob.Median(member.Select(t => t.FirstMs)):F1} ms, p99 {Bench.TimedJob.Percentile(member.Select(t => t.FirstMs), 99):F1} ms"));
            }

            if (parse.GetValue(api) is string url)
            {
                // The same jobs through the gateway's HTTP API, streamed as users submit them, timed at the client.
                using var http = ClusterOptions.Client(url, null, parse.GetValue(timeout));
                await http.CompleteAsync(Prompt(p, 0), options with { MaxTokens = 8 }, null);
                foreach (int j in LogitsCommand.ParseIds(parse.GetValue(jobs)!))
                {
                    var clock = Stopwatch.StartNew();
                    var timed = await Task.WhenAll(Enumerable.Range(0, j).Select(i => Bench.TimedJob.Run(onText => http.CompleteAsync(Prompt(p, i + 1), options, onText))));
                    double seconds = clock.Elapsed.TotalSeconds;
                    int tokens = timed.Sum(t => t.Result.GeneratedTokens);
                    Console.Out.WriteLine(string.Create(
                        CultureInfo.InvariantCulture,
                        $"api  {j,3}: {tokens / seconds,9:F1} tokens/s aggregate ({tokens} tokens in {seconds:F2} s); time to first token median {Bench.TimedJob.Median(timed.Select(t => t.FirstMs)):F1} ms, p99 {Bench.TimedJob.Percentile(timed.Select(t => t.FirstMs), 99):F1} ms, max {timed.Max(t => t.FirstMs):F1} ms; per stream after it: median {Bench.TimedJob.Median(timed.Select(t => t.DecodeTokensPerSecond)):F1} tokens/s"));
                }
            }

            return CliApp.ExitOk;
        });
        return command;
    }

    /// <summary>A prompt of exactly <paramref name="chars"/> printable ASCII characters, different per job.</summary>
    private static string Prompt(int chars, int salt) =>
        new([.. Enumerable.Range(0, chars).Select(i => (char)('a' + ((i * 7) + (salt * 13)) % 26))]);
}
