using ActorLlm.Inference.Checkpoints;
using ActorLlm.Inference.Devices;
using ActorLlm.Inference.Execution;
using ActorLlm.Inference.Native;
using ActorLlm.Protocol;
using static TorchSharp.torch;

namespace ActorLlm.Inference.Benchmarks;

/// <summary>
/// The GPU check of streamed stages (<c>actorllm streamed-check</c>): a whole-model stage with a resident budget and
/// the same model wholly resident run the same prompts (a batch of sessions, prefill then greedy decode), and their
/// logits must agree (bit for bit is expected: the same kernels over the same weights; a difference within
/// <c>tolerance</c> with the same greedy tokens is reported and passes). Then many streamed decode steps must not grow
/// the device's allocated memory (nothing allocated per step stays).
/// </summary>
public static class StreamedCheck
{
    public static bool Run(IWeightSource source, ComputeTarget target, long residentBudget, Action<string> report, int batch = 4, int prompt = 64, int steps = 24, double tolerance = 0.05)
    {
        var whole = UnitRange.Whole(source.Config.NumLayers);
        var streaming = StageExecutor.StreamingFor(source, whole, target.DType, residentBudget);
        if (streaming.StreamedLayers == 0)
        {
            report($"FAIL: a budget of {residentBudget} bytes holds the whole model; nothing would stream");
            return false;
        }

        var cache = new KvCacheOptions(batch, prompt + steps + 64);
        using var resident = StageExecutor.Load(source, whole, target, cache, cudaGraphs: false);
        using var streamed = StageExecutor.Load(source, whole, target, cache, cudaGraphs: false, streaming: streaming);
        report($"streamed stage: {streamed.PathDescription}");
        var random = new Random(7);
        var prompts = Enumerable.Range(0, batch).Select(_ => Enumerable.Range(0, prompt).Select(_ => random.Next(3, source.Config.VocabSize)).ToArray()).ToArray();
        var a = Enumerable.Range(0, batch).Select(_ => SessionId.New()).ToArray();
        var b = Enumerable.Range(0, batch).Select(_ => SessionId.New()).ToArray();
        double worst = 0;
        bool sameTokens = true;
        int[][] inputs = prompts;
        for (int step = 0; step <= steps; step++)
        {
            int start = step == 0 ? 0 : prompt + step - 1;
            var (la, ta) = Pass(resident, a, inputs, start);
            var (lb, tb) = Pass(streamed, b, inputs, start);
            using (la)
            using (lb)
            using (var diff = (la - lb).abs().max())
            {
                worst = Math.Max(worst, diff.item<float>());
            }

            sameTokens &= ta.SequenceEqual(tb);
            inputs = ta.Select(t => new[] { t }).ToArray();
        }

        bool ok = sameTokens && worst <= tolerance;
        report($"{(ok ? "ok" : "FAIL")}: streamed vs resident over {batch} sessions, prefill {prompt} + {steps} decode steps: max |logit difference| {worst:E3}"
            + $" ({(worst == 0 ? "bit for bit" : $"tolerance {tolerance}")}), greedy tokens {(sameTokens ? "identical" : "DIFFER")}");

        ok &= NoGrowth(streamed, b, inputs, prompt + steps, report);
        foreach (var s in a)
        {
            resident.Release(s);
        }

        return ok;
    }

    /// <summary>Many more decode steps of the streamed stage: the device's allocated bytes must come back to where they were.</summary>
    private static bool NoGrowth(StageExecutor stage, SessionId[] sessions, int[][] inputs, int start, Action<string> report)
    {
        if (!stage.Target.IsCuda || !CudaNative.IsAvailable)
        {
            report("leak check skipped (needs CUDA and the native library)");
            return true;
        }

        int device = Math.Max(0, stage.Target.Device.index);
        int room = stage.CacheOptions.MaxContext - start - 1;
        var (warm, next) = Pass(stage, sessions, inputs, start);
        warm.Dispose();
        cuda.synchronize(stage.Target.Device);
        long before = CudaNative.MemoryAllocated(device);
        long copiedBefore = stage.StreamedBytesCopied;
        int steps = Math.Min(48, room);
        for (int i = 1; i < steps; i++)
        {
            var (logits, tokens) = Pass(stage, sessions, next.Select(t => new[] { t }).ToArray(), start + i);
            logits.Dispose();
            next = tokens;
        }

        cuda.synchronize(stage.Target.Device);
        long after = CudaNative.MemoryAllocated(device);
        long copied = stage.StreamedBytesCopied - copiedBefore;
        bool ok = after <= before && copied >= (steps - 1) * stage.StreamedBytesPerPass;
        report($"{(ok ? "ok" : "FAIL")}: {steps - 1} streamed decode steps: allocated {before} -> {after} bytes, {copied / 1e9:F2} GB copied into the ring ({stage.StreamedBytesPerPass / 1e9:F3} GB per step)");
        return ok;
    }

    /// <summary>One pass for every session; logits [B, vocab] (float32) and each session's greedy next token.</summary>
    private static (Tensor Logits, int[] Tokens) Pass(StageExecutor stage, SessionId[] sessions, int[][] inputs, int start)
    {
        var outputs = stage.Forward(sessions.Select((s, i) => new StageInput(s, start, inputs[i])).ToArray());
        try
        {
            using var scope = NewDisposeScope();
            var logits = cat(outputs.Select(o => o.Logits!).ToArray(), 0).to(ScalarType.Float32);   // [B, vocab]
            var tokens = logits.argmax(-1).cpu().data<long>().Select(t => (int)t).ToArray();
            return (logits.MoveToOuterDisposeScope(), tokens);
        }
        finally
        {
            foreach (var o in outputs)
            {
                o.Dispose();
            }
        }
    }
}
