using System.Diagnostics;
using ActorLlm.Inference.Execution;
using ActorLlm.Inference.Native;
using ActorLlm.Protocol;
using TorchSharp;
using static TorchSharp.torch;

namespace ActorLlm.Inference.Benchmarks;

/// <summary>
/// The GPU check of decode by graph replay (<c>actorllm graph-check</c>): for every row bucket, sessions of mixed
/// lengths (so several key buckets are used) decode one step by replay and by the same fixed-shape pass run eagerly,
/// and the two must agree bit for bit, for the whole bucket and for a pass that leaves every other row idle; the
/// replay is also compared with the plain eager path (reported, not bit-identical: other shapes, other kernels).
/// Then one step is replayed many times: GPU memory and the live tensor count must not grow.
/// </summary>
public static class GraphCheck
{
    /// <summary>Runs the check on a whole-model stage on CUDA; returns false if any assertion failed.</summary>
    public static bool Run(StageExecutor stage, int replays, Action<string> report, int seed = 1)
    {
        if (stage.DecodePath != DecodePath.Graph)
        {
            report($"FAIL: the stage does not decode by graph replay: {stage.PathDescription}");
            return false;
        }

        bool ok = !CudaNative.UseKernels || Kernels(stage.Target.Device, stage.Target.DType, report);
        var random = new Random(seed);
        int context = stage.CacheOptions.MaxContext;
        foreach (int rows in Buckets(stage.CacheOptions.MaxSessions))
        {
            var sessions = Enumerable.Range(0, rows).Select(_ => SessionId.New()).ToArray();
            try
            {
                // Lengths spread over the context, so one pass reads several key buckets' worth of keys.
                var inputs = sessions.Select((s, i) => Prefill(stage, s, 1 + (i * 37 % Math.Max(1, context - 2)), random)).ToArray();
                ok &= Compare(stage, inputs, $"rows {rows,3}, all {rows} sessions", report);
                var alternate = inputs.Where((_, i) => i % 2 == 0).ToArray();
                ok &= Compare(stage, alternate, $"rows {rows,3}, every other session ({alternate.Length})", report);
            }
            finally
            {
                foreach (var s in sessions)
                {
                    stage.Release(s);
                }
            }
        }

        ok &= Replays(stage, replays, random, report);
        report($"graphs captured: {stage.GraphCaptures}");
        return ok;
    }

    private static IEnumerable<int> Buckets(int maxSessions)
    {
        for (int b = 1; b < maxSessions; b *= 2)
        {
            yield return b;
        }

        yield return maxSessions;
    }

    /// <summary>Prefills a random prompt; returns the session's next decode step (greedy token, at the prompt's end).</summary>
    private static StageInput Prefill(StageExecutor stage, SessionId session, int length, Random random)
    {
        var prompt = Enumerable.Range(0, length).Select(_ => random.Next(stage.Config.VocabSize)).ToArray();
        using var output = stage.Forward([new StageInput(session, 0, prompt)])[0];
        using var next = output.Logits!.argmax(-1);
        return new StageInput(session, length, [(int)next.cpu().item<long>()]);
    }

    private static bool Compare(StageExecutor stage, StageInput[] inputs, string what, Action<string> report)
    {
        // The same step three times (each rewrites the same cache positions with the same values).
        var rowsPass = Outputs(stage, inputs, DecodePath.Rows);
        var replayed = Outputs(stage, inputs, DecodePath.Graph);
        var eager = Outputs(stage, inputs, DecodePath.Eager);
        bool kernels = CudaNative.UseKernels;
        CudaNative.UseKernels = false;
        var plain = kernels ? Outputs(stage, inputs, DecodePath.Eager) : [];
        CudaNative.UseKernels = kernels;
        stage.DecodePath = DecodePath.Graph;
        try
        {
            using var scope = NewDisposeScope();
            bool identical = rowsPass.Zip(replayed).All(p => p.First.shape.SequenceEqual(p.Second.shape) && p.First.eq(p.Second).all().item<bool>());
            double eagerDiff = replayed.Zip(eager).Max(p => (p.First - p.Second).abs().max().item<float>());
            int argmaxAgree = replayed.Zip(eager).Count(p => p.First.argmax(-1).item<long>() == p.Second.argmax(-1).item<long>());
            string withoutKernels = "";
            if (plain.Length > 0)
            {
                double plainDiff = replayed.Zip(plain).Max(p => (p.First - p.Second).abs().max().item<float>());
                int plainAgree = replayed.Zip(plain).Count(p => p.First.argmax(-1).item<long>() == p.Second.argmax(-1).item<long>());
                withoutKernels = $"; vs eager without the fused kernels max |diff| {plainDiff:G3}, greedy agrees {plainAgree}/{inputs.Length}";
            }

            report($"{what}: replay {(identical ? "bit-identical to" : "DIFFERS from")} the eager fixed-rows pass;"
                + $" vs the plain eager path max |diff| {eagerDiff:G3}, greedy token agrees for {argmaxAgree}/{inputs.Length}{withoutKernels}");
            return identical;
        }
        finally
        {
            foreach (var t in rowsPass.Concat(replayed).Concat(eager).Concat(plain))
            {
                t.Dispose();
            }
        }
    }

    /// <summary>Each fused kernel against the eager ops it replaces, on random inputs (bit for bit, or say by how much not).</summary>
    private static bool Kernels(Device device, ScalarType dtype, Action<string> report)
    {
        using var scope = NewDisposeScope();
        using var generator = new Generator(7, CPU);
        Tensor Random(params long[] shape) => randn(shape, ScalarType.Float32, CPU, generator: generator).to(dtype, device);
        bool ok = true;
        void Report(string name, Tensor expected, Tensor actual, double tolerance)
        {
            double diff = (expected.to(ScalarType.Float32) - actual.to(ScalarType.Float32)).abs().max().item<float>();
            bool good = diff <= tolerance;
            ok &= good;
            report($"kernel {name} ({dtype}): max |diff| vs eager ops {diff:G3} {(good ? "ok" : $"FAIL (> {tolerance:G3})")}");
        }

        var gateUp = Random(3, 2, 2 * 1000);
        Report("silu_mul", nn.functional.silu(gateUp.narrow(-1, 0, 1000)) * gateUp.narrow(-1, 1000, 1000), CudaNative.SiluMul(gateUp), 0);

        var x = Random(5, 4096);
        var residual = Random(5, 4096);
        var weight = Random(4096);
        var (h, y) = CudaNative.AddRmsNorm(x, residual, weight, 1e-5);
        var sum = residual + x;
        var sum32 = sum.to(ScalarType.Float32);
        var reference = weight * (sum32 * (sum32.pow(2).mean([-1], keepdim: true) + 1e-5).rsqrt()).to(dtype);
        Report("add_rms_norm (sum)", sum, h, 0);
        // The mean is summed in another order: a last-bit difference in the scale may move a rounding by one step.
        double largest = reference.abs().max().to(ScalarType.Float32).item<float>();
        Report("add_rms_norm (norm)", reference, y, largest * (dtype == ScalarType.Float32 ? 1e-6 : 1.0 / 64));

        int heads = 4, kvHeads = 2, dim = 8, positions = 16, slots = 4, n = 3, t = 2;
        var qkv = Random(n, t, (heads + (2 * kvHeads)) * dim);
        var cos = Random(positions, dim);
        var sin = Random(positions, dim);
        var at = tensor(new long[] { 3, 4, 0, 1, 14, 15 }, [n, t], ScalarType.Int64, device);
        var slotIds = tensor(new long[] { 2, 0, 3 }, ScalarType.Int64, device);
        var keys = zeros([slots, kvHeads, positions + 1, dim], dtype, device);
        var values = zeros([slots, kvHeads, positions + 1, dim], dtype, device);
        var q = CudaNative.RopeKv(qkv, cos, sin, at, slotIds, keys, values, heads, kvHeads);
        var c = cos.index_select(0, at.reshape(-1)).view(n, t, 1, dim);
        var s = sin.index_select(0, at.reshape(-1)).view(n, t, 1, dim);
        var qk = Model.RotaryEmbedding.Apply(qkv.narrow(-1, 0, (heads + kvHeads) * dim).view(n, t, heads + kvHeads, dim), c, s);
        var expectedKeys = zeros_like(keys);
        var expectedValues = zeros_like(values);
        var index = new[] { TensorIndex.Tensor(slotIds.unsqueeze(1)), TensorIndex.Colon, TensorIndex.Tensor(at) };
        expectedKeys.index_put_(qk.narrow(2, heads, kvHeads), index);
        expectedValues.index_put_(qkv.narrow(-1, (heads + kvHeads) * dim, kvHeads * dim).view(n, t, kvHeads, dim), index);
        Report("rope_kv (q)", qk.narrow(2, 0, heads), q, 0);
        Report("rope_kv (k cache)", expectedKeys, keys, 0);
        Report("rope_kv (v cache)", expectedValues, values, 0);
        return ok;
    }

    private static Tensor[] Outputs(StageExecutor stage, StageInput[] inputs, DecodePath path)
    {
        stage.DecodePath = path;
        var outputs = stage.Forward(inputs);
        var copies = outputs.Select(o => (o.Logits ?? o.Hidden!).to(ScalarType.Float32, CPU)).ToArray();
        foreach (var o in outputs)
        {
            o.Dispose();
        }

        return copies;
    }

    private static bool Replays(StageExecutor stage, int replays, Random random, Action<string> report)
    {
        var session = SessionId.New();
        try
        {
            var step = Prefill(stage, session, 16, random);
            stage.DecodePath = DecodePath.Graph;
            void Once()
            {
                foreach (var o in stage.Forward([step]))
                {
                    o.Dispose();
                }
            }

            int device = stage.Target.Device.index < 0 ? 0 : stage.Target.Device.index;
            Once();
            cuda.synchronize(stage.Target.Device);
            long memoryBefore = CudaNative.MemoryAllocated(device);
            long liveBefore = DisposeScopeManager.Statistics.TensorStatistics.ThreadTotalLiveCount;
            var clock = Stopwatch.StartNew();
            for (int i = 0; i < replays; i++)
            {
                Once();
            }

            cuda.synchronize(stage.Target.Device);
            double us = clock.Elapsed.TotalMilliseconds * 1000 / replays;
            long memoryAfter = CudaNative.MemoryAllocated(device);
            long liveAfter = DisposeScopeManager.Statistics.TensorStatistics.ThreadTotalLiveCount;
            bool flat = memoryAfter == memoryBefore && liveAfter == liveBefore;
            report($"{replays} replays of one step: {us:F0} us each; GPU memory allocated {memoryBefore:N0} -> {memoryAfter:N0} bytes,"
                + $" live tensors {liveBefore} -> {liveAfter}: {(flat ? "flat" : "GROWS")}");
            return flat;
        }
        finally
        {
            stage.Release(session);
        }
    }
}
