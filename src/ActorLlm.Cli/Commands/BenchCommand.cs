using System.CommandLine;
using System.Globalization;
using ActorLlm.Cluster.Worker;
using ActorLlm.Inference.Benchmarks;
using ActorLlm.Inference.Checkpoints;
using ActorLlm.Inference.Execution;
using ActorLlm.Inference.Native;
using ActorLlm.Protocol;

namespace ActorLlm.Cli.Commands;

/// <summary>
/// <c>actorllm bench</c>: single-process greedy decode speed at several batch sizes (random prompts), optionally
/// with the model split into stages on one device. Prints one line per batch size.
/// </summary>
public static class BenchCommand
{
    public static Command Create()
    {
        var model = CommonOptions.Model();
        var device = CommonOptions.Device();
        var dtype = CommonOptions.DType();
        var batches = new Option<string>("--batch") { Description = "Comma-separated batch sizes", DefaultValueFactory = _ => "1" };
        var prompt = new Option<int>("--prompt-tokens") { Description = "Prompt length", DefaultValueFactory = _ => 128 };
        var newTokens = new Option<int>("--new-tokens") { Description = "Tokens generated per sequence", DefaultValueFactory = _ => 128 };
        var stages = new Option<int>("--stages") { Description = "Split the model into this many stages on the device", DefaultValueFactory = _ => 1 };
        var warmup = new Option<int>("--warmup") { Description = "Untimed runs first", DefaultValueFactory = _ => 1 };
        var graphs = new Option<string>("--graphs") { Description = "Decode by CUDA graph replay where possible: on | off | rows (fixed-shape pass, eager)", DefaultValueFactory = _ => "on" };
        graphs.AcceptOnlyFromAmong("on", "off", "rows");
        var resident = new Option<string?>("--resident-memory")
        {
            Description = "Weight bytes each stage keeps on the device (e.g. 4GiB); the layers beyond stream from host memory (pinned on CUDA)",
        };
        var command = new Command("bench", "Measure decode tokens/s in one process") { model, device, dtype, batches, prompt, newTokens, stages, warmup, graphs, resident };
        command.SetAction(parse =>
        {
            int[] sizes = LogitsCommand.ParseIds(parse.GetValue(batches)!);
            int p = parse.GetValue(prompt), n = parse.GetValue(newTokens);
            string dir = CommonOptions.ResolveModel(parse.GetValue(model));
            var target = CommonOptions.Target(parse.GetValue(device)!, parse.GetValue(dtype)!);
            using var source = Checkpoint.Open(dir);
            var cache = new KvCacheOptions(sizes.Max(), p + n);
            string mode = parse.GetValue(graphs)!;
            long? budget = parse.GetValue(resident) is { } text ? CommonOptions.ParseBytes(text) : null;
            var executors = Split(source.Config.UnitCount, parse.GetValue(stages))
                .Select(r => StageExecutor.Load(source, r, target, cache, cudaGraphs: mode == "on",
                    streaming: budget is long b ? StageExecutor.StreamingFor(source, r, target.DType, b) : null))
                .ToList();
            try
            {
                if (mode == "rows")
                {
                    executors.ForEach(e => e.DecodePath = DecodePath.Rows);
                }

                Console.Out.WriteLine($"# {Path.GetFileName(Path.GetFullPath(dir))} on {target}, {executors.Count} stage(s), prompt {p}, new {n}; weights {source.Weights.Name()}; {executors[0].PathDescription}");
                if (target.IsCuda && CudaNative.IsAvailable)
                {
                    // Weights, KV cache for the largest batch and rotary tables, as torch.cuda.memory_allocated counts them.
                    long allocated = CudaNative.MemoryAllocated(Math.Max(0, target.Device.index));
                    Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture, $"# cuda memory allocated after load: {allocated / (double)(1L << 30):F3} GiB"));
                }
                long streamedBytes = executors.Sum(e => e.StreamedBytesPerPass);
                double copyBound = 0;
                if (budget is not null)
                {
                    // The copy bound of a decode step: every streamed byte crosses the link once per pass.
                    double bandwidth = DeviceProbe.HostToDeviceBandwidth(target);
                    copyBound = streamedBytes / bandwidth;
                    Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"# streamed: {executors.Sum(e => e.StreamedLayers)} of {source.Config.NumLayers} layers, {streamedBytes / 1e9:F3} GB per step; host-to-device {bandwidth / 1e9:F2} GB/s ({(target.IsCuda ? "pinned" : "memory copy")}); copy bound {copyBound * 1000:F2} ms/step"));
                }

                foreach (int b in sizes)
                {
                    for (int w = 0; w < parse.GetValue(warmup); w++)
                    {
                        DecodeBenchmark.Run(executors, b, p, Math.Min(n, 8));
                    }

                    var r = DecodeBenchmark.Run(executors, b, p, n);
                    string bound = copyBound > 0
                        ? string.Create(CultureInfo.InvariantCulture, $", copy bound {copyBound * 1000:F2} ms/step, step / copy bound {r.MillisecondsPerStep / (copyBound * 1000):F3}")
                        : "";
                    Console.Out.WriteLine(string.Create(
                        CultureInfo.InvariantCulture,
                        $"batch {r.Batch,3}: prefill {r.PrefillSeconds * 1000,8:F1} ms, decode {r.MillisecondsPerStep,7:F2} ms/step, {r.TokensPerSecond,9:F1} tokens/s aggregate, {r.PerSequenceTokensPerSecond,7:F1} per sequence") + bound);
                }
            }
            finally
            {
                executors.ForEach(e => e.Dispose());
            }

            return CliApp.ExitOk;
        });
        return command;
    }

    /// <summary>Splits [0, units) into <paramref name="count"/> contiguous ranges of near-equal size.</summary>
    public static IEnumerable<UnitRange> Split(int units, int count)
    {
        count = Math.Clamp(count, 1, units);
        for (int i = 0; i < count; i++)
        {
            yield return new UnitRange(i * units / count, (i + 1) * units / count);
        }
    }
}
