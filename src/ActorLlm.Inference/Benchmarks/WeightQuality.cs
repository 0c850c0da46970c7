using System.Diagnostics;
using ActorLlm.Inference.Checkpoints;
using ActorLlm.Inference.Devices;
using ActorLlm.Inference.Execution;
using ActorLlm.Inference.Generation;
using ActorLlm.Inference.Native;
using ActorLlm.Inference.Sampling;
using ActorLlm.Inference.Tokenization;
using ActorLlm.Protocol;
using static TorchSharp.torch;

namespace ActorLlm.Inference.Benchmarks;

/// <summary>What <see cref="WeightQuality.Compare"/> measures.</summary>
/// <param name="Prompts">Prompts whose every position's logits are compared, and that greedy generation starts from.</param>
/// <param name="GreedyTokens">Tokens generated greedily from each prompt by each model (end of sequence does not stop it; capped by the context).</param>
/// <param name="HeldStories">Texts the reference model samples (temperature 1, from BOS) for both models to score.</param>
/// <param name="StoryTokens">Longest held text, in tokens after BOS (a story ends earlier at end of sequence).</param>
/// <param name="Seed">Seed of the first held text; text i uses Seed + i.</param>
public sealed record QualityOptions(IReadOnlyList<string> Prompts, int GreedyTokens = 500, int HeldStories = 8, int StoryTokens = 256, ulong Seed = 1)
{
    public static IReadOnlyList<string> DefaultPrompts { get; } = ["", "Once upon a time", "Lily and Ben went to the park", "The little dog was sad because"];
}

/// <summary>Greedy agreement from one prompt: identical tokens position by position, and where the two first differ.</summary>
public sealed record GreedyAgreement(string Prompt, int Tokens, int Identical, int? FirstDivergence)
{
    public double Fraction => Tokens == 0 ? 1 : (double)Identical / Tokens;
}

/// <summary>One model's side of a comparison: what it is, its weights' memory, and its outputs.</summary>
/// <param name="DeviceBytesAllocated">CUDA memory the loaded stage holds (weights, KV cache, rotary tables), measured; null off CUDA or without the native library.</param>
public sealed record QualitySide(string Directory, string Target, WeightFormat Weights, long DiskBytes, long EstimatedWeightBytes, long KvCacheBytes, long? DeviceBytesAllocated, double LoadSeconds);

/// <summary>
/// The figures of a comparison of model B against reference A (e.g. an int8 store against the store it was made
/// from): max and mean |logit difference| over every position of the prompts, greedy agreement, and perplexity of
/// both on texts A sampled (temperature 1, fixed seeds). Since A's samples follow A's own distribution, the mean of
/// B's minus A's negative log-likelihood per token estimates KL(A || B).
/// </summary>
public sealed record QualityReport(
    QualitySide A,
    QualitySide B,
    int LogitPositions,
    double MaxLogitDifference,
    double MeanLogitDifference,
    IReadOnlyList<GreedyAgreement> Greedy,
    int HeldTexts,
    int HeldTokens,
    double PerplexityA,
    double PerplexityB,
    double HeldTop1Agreement,
    VerificationSpread Verification)
{
    public int GreedyTokens => Greedy.Sum(g => g.Tokens);

    public int GreedyIdentical => Greedy.Sum(g => g.Identical);

    public double MeanNllDifference => HeldTokens == 0 ? 0 : Math.Log(PerplexityB / PerplexityA);
}

/// <summary>
/// The figure verification compares (<see cref="LogprobAgreement"/>), over every compared prompt position: A reports
/// its greedy token's log-probability and its top <see cref="WeightQuality.VerificationTop"/>, B (the audit) its
/// log-probability of A's token and its own top list. Between two honest devices this is how far verification must
/// tolerate them apart.
/// </summary>
/// <param name="Rows">Positions compared.</param>
/// <param name="MaxDistance">Largest <see cref="LogprobAgreement.Distance"/> (nats).</param>
/// <param name="P99Distance">99th percentile (nearest rank) of the distance.</param>
/// <param name="P999Distance">99.9th percentile (nearest rank; the max when there are fewer than 1000 rows).</param>
/// <param name="MeanDistance">Mean distance.</param>
/// <param name="MaxGreedyGap">Largest greedy gap: B's top log-probability minus B's log-probability of A's token (0 where they agree on the argmax).</param>
/// <param name="ArgmaxDiffers">Rows where B holds a token strictly more likely than A's greedy one (greedy gap above 0; an exact tie, common in bf16, is not counted).</param>
/// <param name="MaxChosenDifference">Largest |A's minus B's log-probability of A's token|: the part of the distance that is not the top lists' tails.</param>
public sealed record VerificationSpread(int Rows, double MaxDistance, double P99Distance, double P999Distance, double MeanDistance, double MaxGreedyGap, int ArgmaxDiffers, double MaxChosenDifference)
{
    public static VerificationSpread Empty { get; } = new(0, 0, 0, 0, 0, 0, 0, 0);
}

/// <summary>Compares two stores (or checkpoints) of one model on one device: <c>actorllm quality</c>.</summary>
public static class WeightQuality
{
    /// <summary>Top-k each side reports in verification, and so here.</summary>
    public const int VerificationTop = 8;

    private sealed record Outputs(int Vocab, float[][] PromptLogits, int[][] Greedy, int[][] Held, double[] HeldNll, int[][] HeldArgmax);

    /// <summary>
    /// Loads A, runs everything on it (and has it sample the held texts), disposes it, then the same for B, so at most
    /// one model is resident at a time and each one's device memory is measured alone.
    /// </summary>
    /// <param name="targetB">Where B runs, when not where A does (e.g. the same weights in bf16 against f32: the baseline
    /// that says how much of a difference rounding alone makes).</param>
    public static QualityReport Compare(string dirA, string dirB, ComputeTarget target, QualityOptions options, Action<string>? log = null, ComputeTarget? targetB = null)
    {
        CheckSameModel(dirA, dirB);
        var (sideA, a) = Run(dirA, target, options, held: null, log);
        var (sideB, b) = Run(dirB, targetB ?? target, options, held: a.Held, log);

        double max = 0, sum = 0;
        long count = 0;
        int positions = 0;
        for (int p = 0; p < a.PromptLogits.Length; p++)
        {
            var la = a.PromptLogits[p];
            var lb = b.PromptLogits[p];
            if (la.Length != lb.Length)
            {
                throw new InvalidRequestException($"the models' logits differ in size ({la.Length} vs {lb.Length}): not the same model");
            }

            for (int i = 0; i < la.Length; i++)
            {
                double d = Math.Abs(la[i] - lb[i]);
                max = Math.Max(max, d);
                sum += d;
            }

            count += la.Length;
            positions += la.Length / a.Vocab;
        }

        var greedy = options.Prompts.Select((prompt, p) => Agreement(prompt, a.Greedy[p], b.Greedy[p])).ToArray();
        int heldTokens = a.Held.Sum(h => h.Length - 1);
        int top1 = 0;
        for (int h = 0; h < a.Held.Length; h++)
        {
            top1 += a.HeldArgmax[h].Zip(b.HeldArgmax[h]).Count(p => p.First == p.Second);
        }

        return new QualityReport(
            sideA,
            sideB,
            positions,
            max,
            count == 0 ? 0 : sum / count,
            greedy,
            a.Held.Length,
            heldTokens,
            heldTokens == 0 ? 1 : Math.Exp(a.HeldNll.Sum() / heldTokens),
            heldTokens == 0 ? 1 : Math.Exp(b.HeldNll.Sum() / heldTokens),
            heldTokens == 0 ? 1 : (double)top1 / heldTokens,
            Spread(a.PromptLogits, b.PromptLogits, a.Vocab));
    }

    /// <summary>
    /// The verification figures over every row (position) of <paramref name="logitsA"/> and <paramref name="logitsB"/>
    /// (each prompt's logits flattened [T * vocab]): A = <see cref="Sampler.Logprobs"/> of A's row at A's argmax, B = of
    /// B's row at the same token, both with top <see cref="VerificationTop"/>.
    /// </summary>
    public static VerificationSpread Spread(IReadOnlyList<float[]> logitsA, IReadOnlyList<float[]> logitsB, int vocab)
    {
        if (logitsA.Count != logitsB.Count)
        {
            throw new InvalidRequestException($"{logitsA.Count} prompts against {logitsB.Count}: nothing to compare");
        }

        var distances = new List<double>();
        double maxGap = 0, maxChosen = 0;
        int differs = 0;
        for (int p = 0; p < logitsA.Count; p++)
        {
            var (la, lb) = (logitsA[p], logitsB[p]);
            if (la.Length != lb.Length || la.Length % vocab != 0)
            {
                throw new InvalidRequestException($"the models' logits differ in size ({la.Length} vs {lb.Length}, vocab {vocab}): not the same model");
            }

            for (int row = 0; row < la.Length / vocab; row++)
            {
                var ra = la.AsSpan(row * vocab, vocab);
                int token = Sampler.ArgMax(ra);
                using var ta = tensor(ra.ToArray());
                using var tb = tensor(lb.AsSpan(row * vocab, vocab).ToArray());
                var reportA = Sampler.Logprobs(ta, token, VerificationTop);
                var reportB = Sampler.Logprobs(tb, token, VerificationTop);
                distances.Add(LogprobAgreement.Distance(reportA, reportB));
                double gap = reportB.TopLogprobs.Length > 0 ? reportB.TopLogprobs[0] - reportB.Logprob : 0;
                maxGap = Math.Max(maxGap, gap);
                maxChosen = Math.Max(maxChosen, Math.Abs(reportA.Logprob - reportB.Logprob));
                if (gap > 0)
                {
                    differs++;
                }
            }
        }

        if (distances.Count == 0)
        {
            return VerificationSpread.Empty;
        }

        distances.Sort();
        return new VerificationSpread(distances.Count, distances[^1], Rank(distances, 0.99), Rank(distances, 0.999), distances.Average(), maxGap, differs, maxChosen);
    }

    /// <summary>Nearest-rank percentile of ascending <paramref name="sorted"/>: the max when there are too few values.</summary>
    private static double Rank(List<double> sorted, double q) =>
        sorted[Math.Clamp((int)Math.Ceiling(q * sorted.Count) - 1, 0, sorted.Count - 1)];

    /// <summary>Both open, and have the same architecture: checked before minutes are spent on the first.</summary>
    private static void CheckSameModel(string dirA, string dirB)
    {
        using var a = Checkpoint.Open(dirA);
        using var b = Checkpoint.Open(dirB);
        var (ca, cb) = (a.Config, b.Config);
        if ((ca.NumLayers, ca.HiddenSize, ca.IntermediateSize, ca.NumHeads, ca.NumKvHeads, ca.VocabSize) != (cb.NumLayers, cb.HiddenSize, cb.IntermediateSize, cb.NumHeads, cb.NumKvHeads, cb.VocabSize))
        {
            throw new InvalidRequestException($"'{dirA}' and '{dirB}' are not the same architecture: nothing to compare");
        }
    }

    /// <summary>Identical tokens position by position, and the first position where they differ (null: none).</summary>
    public static GreedyAgreement Agreement(string prompt, IReadOnlyList<int> a, IReadOnlyList<int> b)
    {
        int n = Math.Min(a.Count, b.Count);
        int identical = 0;
        int? first = null;
        for (int i = 0; i < n; i++)
        {
            if (a[i] == b[i])
            {
                identical++;
            }
            else
            {
                first ??= i;
            }
        }

        if (first is null && a.Count != b.Count)
        {
            first = n;
        }

        return new GreedyAgreement(prompt, Math.Max(a.Count, b.Count), identical, first);
    }

    private static (QualitySide Side, Outputs Outputs) Run(string dir, ComputeTarget target, QualityOptions options, int[][]? held, Action<string>? log)
    {
        var tokenizer = TextTokenizer.Load(dir);
        using var source = Checkpoint.Open(dir);
        var config = source.Config;
        var prompts = options.Prompts.Select(p => Prompt.Encode(tokenizer, p)).ToArray();
        int context = Math.Min(config.MaxPositionEmbeddings, Math.Max(prompts.Max(p => p.Length) + options.GreedyTokens, options.StoryTokens + 1));
        int device = target.IsCuda ? target.Device.index < 0 ? 0 : target.Device.index : -1;
        bool measure = device >= 0 && CudaNative.IsAvailable;
        if (measure)
        {
            // libtorch's caching allocator has no statistics for a device until something is allocated on it
            // ("Invalid device argument"): one element first.
            using var first = zeros(1, device: target.Device);
            cuda.synchronize(target.Device);
        }

        long before = measure ? CudaNative.MemoryAllocated(device) : 0;
        var clock = Stopwatch.StartNew();
        var stage = StageExecutor.Load(source, UnitRange.Whole(config.NumLayers), target, new KvCacheOptions(1, context));
        using var generator = new LocalGenerator(tokenizer, [stage]);
        if (measure)
        {
            cuda.synchronize(target.Device);
        }

        double loadSeconds = clock.Elapsed.TotalSeconds;
        long? allocated = measure ? CudaNative.MemoryAllocated(device) - before : null;
        var info = ModelInfo.Of(source);
        var estimate = info.Estimate(target.DType, context, 1);
        var side = new QualitySide(dir, target.ToString(), source.Weights, DiskBytes(source), estimate.WeightBytes, estimate.KvBytes, allocated, loadSeconds);
        log?.Invoke($"loaded {dir} ({source.Weights.Name()}) on {target} in {loadSeconds:F1} s; {stage.PathDescription}");

        var promptLogits = prompts.Select(p => AllLogits(stage, p).Data).ToArray();
        var greedy = prompts.Select(p => generator.Generate(p, new GenerationOptions
        {
            MaxTokens = Math.Min(options.GreedyTokens, context - p.Length),
            StopAtEos = false,
        }).GeneratedIds).ToArray();
        log?.Invoke($"  greedy: {greedy.Sum(g => g.Length)} tokens from {prompts.Length} prompts");

        held ??= Enumerable.Range(0, options.HeldStories).Select(i =>
        {
            int[] bos = Prompt.Encode(tokenizer, string.Empty);
            var story = generator.Generate(bos, new GenerationOptions
            {
                MaxTokens = Math.Min(options.StoryTokens, context - bos.Length),
                Sampling = new SamplingParams { Temperature = 1f, Seed = options.Seed + (ulong)i },
            });
            return bos.Concat(story.GeneratedIds).ToArray();
        }).Where(h => h.Length > 1).ToArray();

        var nll = new double[held.Length];
        var argmax = new int[held.Length][];
        for (int h = 0; h < held.Length; h++)
        {
            (nll[h], argmax[h]) = Score(stage, held[h]);
        }

        log?.Invoke($"  scored {held.Length} held texts ({held.Sum(h => h.Length - 1)} tokens)");
        return (side, new Outputs(config.VocabSize, promptLogits, greedy, held, nll, argmax));
    }

    /// <summary>Bytes of the weight files: a store's units (from its manifest), or a checkpoint's safetensors files.</summary>
    private static long DiskBytes(IWeightSource source) => source is UnitStore store
        ? store.Manifest.TotalBytes
        : Directory.EnumerateFiles(source.Directory, "*.safetensors").Sum(f => new FileInfo(f).Length);

    /// <summary>Float32 logits [T, vocab] of every position of <paramref name="ids"/>, flattened, and the vocabulary size.</summary>
    private static (float[] Data, int Vocab) AllLogits(StageExecutor stage, int[] ids)
    {
        var session = SessionId.New();
        try
        {
            using var output = stage.Forward([new StageInput(session, 0, ids, AllLogits: true)])[0];
            using var cpu = output.Logits!.to(ScalarType.Float32).cpu();
            return (cpu.data<float>().ToArray(), (int)cpu.shape[1]);
        }
        finally
        {
            stage.Release(session);
        }
    }

    /// <summary>Total negative log-likelihood of ids[1..] given the ones before, and the argmax at each of those positions.</summary>
    private static (double Nll, int[] Argmax) Score(StageExecutor stage, int[] ids)
    {
        var session = SessionId.New();
        try
        {
            using var scope = NewDisposeScope();
            using var output = stage.Forward([new StageInput(session, 0, ids, AllLogits: true)])[0];
            var logits = output.Logits!.to(ScalarType.Float64).narrow(0, 0, ids.Length - 1);               // [T-1, vocab]
            var logProbs = logits.log_softmax(-1);
            var targets = tensor(ids.Skip(1).Select(i => (long)i).ToArray(), ScalarType.Int64, logits.device).unsqueeze(1);
            double nll = -logProbs.gather(1, targets).sum().cpu().item<double>();
            var argmax = logits.argmax(-1).cpu().data<long>().Select(v => (int)v).ToArray();
            return (nll, argmax);
        }
        finally
        {
            stage.Release(session);
        }
    }
}
