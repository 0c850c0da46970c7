using System.Diagnostics;
using ActorLlm.Inference.Checkpoints;
using ActorLlm.Inference.Devices;
using ActorLlm.Inference.Execution;
using ActorLlm.Inference.Sampling;
using ActorLlm.Inference.Tokenization;
using ActorLlm.Protocol;

namespace ActorLlm.Inference.Generation;

/// <summary>
/// Generation and scoring in one process: a tokenizer and a chain of stages covering the whole model (one stage
/// normally; several to check that a split model behaves like a whole one). The cluster runs the same steps
/// with the stages on other machines.
/// </summary>
public sealed class LocalGenerator : IDisposable
{
    private readonly IReadOnlyList<StageExecutor> _stages;
    private readonly IDisposable? _owned;

    public LocalGenerator(TextTokenizer tokenizer, IReadOnlyList<StageExecutor> stages, IDisposable? owned = null)
    {
        if (stages.Count == 0 || !stages[0].HasBegin || !stages[^1].HasEnd)
        {
            throw new ArgumentException("the stages must run from begin to end", nameof(stages));
        }

        for (int i = 1; i < stages.Count; i++)
        {
            if (stages[i].Range.Start != stages[i - 1].Range.End)
            {
                throw new ArgumentException($"stage {stages[i].Range} does not follow {stages[i - 1].Range}", nameof(stages));
            }
        }

        Tokenizer = tokenizer;
        _stages = stages;
        _owned = owned;
    }

    /// <summary>
    /// Loads the whole model from <paramref name="modelDirectory"/> (HF layout or unit store) as one stage, telling
    /// <paramref name="progress"/> (bytes read, bytes in all) as it reads the weights.
    /// </summary>
    public static LocalGenerator Load(string modelDirectory, ComputeTarget target, KvCacheOptions? cache = null, Action<long, long>? progress = null)
    {
        var tokenizer = TextTokenizer.Load(modelDirectory);
        var source = Checkpoint.Open(modelDirectory);
        try
        {
            var stage = StageExecutor.Load(source, UnitRange.Whole(source.Config.NumLayers), target, cache, progress: progress);
            return new LocalGenerator(tokenizer, [stage], source);
        }
        catch
        {
            source.Dispose();
            throw;
        }
    }

    public TextTokenizer Tokenizer { get; }

    /// <summary>Longest sequence (prompt + generated) the stages hold.</summary>
    public int ContextLimit => _stages.Min(s => s.CacheOptions.MaxContext);

    /// <summary>Prompt text to ids; an empty prompt starts from BOS.</summary>
    public int[] EncodePrompt(string prompt) => Prompt.Encode(Tokenizer, prompt);

    public GenerationResult Generate(string prompt, GenerationOptions options, Action<string>? onText = null) =>
        Generate(EncodePrompt(prompt), options, onText);

    public GenerationResult Generate(int[] promptIds, GenerationOptions options, Action<string>? onText = null)
    {
        var progress = new GenerationProgress(Tokenizer, promptIds, options, ContextLimit);
        var session = SessionId.New();
        var clock = Stopwatch.StartNew();
        TimeSpan prefill = TimeSpan.Zero;
        try
        {
            int[] next = promptIds;
            int position = 0;
            while (!progress.Done)
            {
                int token;
                using (var logits = StageChain.Forward(_stages, [new StageInput(session, position, next)])[0])
                {
                    position += next.Length;
                    token = Sampler.Sample(logits.Logits!, options.Sampling, progress.Tokens, position);
                }

                if (prefill == TimeSpan.Zero)
                {
                    prefill = clock.Elapsed;
                }

                string delta = progress.Accept(token);
                if (delta.Length > 0)
                {
                    onText?.Invoke(delta);
                }

                next = [token];
            }
        }
        finally
        {
            foreach (var s in _stages)
            {
                s.Release(session);
            }
        }

        return new GenerationResult(progress.Text, promptIds, progress.GeneratedIds.ToArray(), progress.Finish!.Value, prefill, clock.Elapsed - prefill);
    }

    /// <summary>Scores each choice as a continuation of the prompt in one batched pass; best first.</summary>
    public IReadOnlyList<ChoiceScore> Score(string prompt, IReadOnlyList<string> choices)
    {
        var batch = ChoiceScoring.Prepare(Tokenizer, prompt, choices, ContextLimit);
        var scores = new List<ChoiceScore>();
        int batchSize = _stages.Min(s => s.CacheOptions.MaxSessions - s.ActiveSessions);
        for (int from = 0; from < choices.Count; from += batchSize)
        {
            var chunk = Enumerable.Range(from, Math.Min(batchSize, choices.Count - from)).ToArray();
            var sessions = chunk.Select(_ => SessionId.New()).ToArray();
            var padded = chunk.Select(batch.Padded).ToArray();
            try
            {
                var outputs = StageChain.Forward(_stages, sessions.Select((s, i) => new StageInput(s, 0, padded[i], AllLogits: true)).ToArray());
                for (int j = 0; j < chunk.Length; j++)
                {
                    var (seq, start) = batch.Choices[chunk[j]];
                    double lp = ChoiceScoring.LogProbability(outputs[j].Logits!, seq, start);
                    scores.Add(new ChoiceScore(chunk[j], choices[chunk[j]], lp, seq.Length - start));
                    outputs[j].Dispose();
                }
            }
            finally
            {
                foreach (var s in _stages)
                {
                    foreach (var session in sessions)
                    {
                        s.Release(session);
                    }
                }
            }
        }

        return scores.OrderByDescending(s => s.LogProbability).ThenBy(s => s.Index).ToArray();
    }

    public void Dispose()
    {
        foreach (var s in _stages)
        {
            s.Dispose();
        }

        _owned?.Dispose();
    }
}
