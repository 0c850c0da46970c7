using ActorLlm.Inference;
using ActorLlm.Inference.Generation;
using ActorLlm.Protocol;
using ActorLlm.Protocol.Messages;

namespace ActorLlm.Cluster.Session.Internal;

/// <summary>
/// A generation: the prompt in chunks, then one token per step, each sampled token turned into streamed text
/// (<see cref="JobMessages.TextDelta"/>, numbered from 0 without gaps) until the options or the context end it.
/// </summary>
internal sealed class GenerationJob : ISessionJob
{
    private readonly SessionId _id;
    private readonly GenerationProgress _progress;
    private readonly WireSampling _sampling;
    private readonly int _chunk;
    private readonly int _maxTokens;
    private readonly int _contextLimit;
    private readonly bool _ring;
    private readonly List<SampledToken> _pending = [];
    private int _sequence;

    private GenerationJob(SessionId id, GenerationProgress progress, WireSampling sampling, int chunk, int maxTokens, int contextLimit, bool ring)
    {
        _id = id;
        _progress = progress;
        _sampling = sampling;
        _chunk = chunk;
        _maxTokens = maxTokens;
        _contextLimit = contextLimit;
        _ring = ring;
        StageSessions = [id];
    }

    public IReadOnlyList<SessionId> StageSessions { get; }

    public bool Complete => _progress.Done;

    /// <summary>The job <paramref name="start"/> asks for; a bad prompt or options are an InvalidRequestException.</summary>
    public static GenerationJob Create(SessionContext ctx, SessionId id, JobMessages.StartGeneration start)
    {
        if (start.Options.Sampling.Logprobs is < -1 or > WireSampling.MaxLogprobs)
        {
            throw new InvalidRequestException($"logprobs must be -1 (none) to {WireSampling.MaxLogprobs}, got {start.Options.Sampling.Logprobs}");
        }

        int[] ids = Prompt.EncodeUtf8(ctx.Tokenizer, start.PromptUtf8, start.Rendered);
        var progress = new GenerationProgress(ctx.Tokenizer, ids, WireOptions.ToOptions(start.Options), ctx.ContextLimit);
        int chunk = StepPlan.ChunkTokens(ctx.Settings.PrefillChunk, ctx.HiddenSize, ctx.MaxPayloadBytes);
        return new GenerationJob(id, progress, start.Options.Sampling, chunk, start.Options.MaxTokens, ctx.ContextLimit, ctx.Settings.Ring);
    }

    /// <summary>
    /// How many steps the route's last stage may start on its own after the step that samples the next token (the
    /// ring): one per token still allowed by max tokens and the context, so a ring never runs past the length the
    /// job may reach. The session alone still ends it earlier (EOS, stop strings) or abandons it (failover).
    /// </summary>
    private int Loop() => _ring
        ? Math.Max(0, Math.Min(_maxTokens - _progress.GeneratedCount - 1, _contextLimit - 1 - _progress.Tokens.Count))
        : 0;

    /// <summary>
    /// Every token so far from position 0: a first run is the prefill; a replay feeds the prompt and everything
    /// generated through the new route, whose last chunk samples the next token exactly as the lost route would have.
    /// </summary>
    public IReadOnlyList<StageMessages.Forward> Start(RouteSteps route) =>
        StepPlan.Run(_id, route.Step, route.Hops, 0, _progress.Tokens, _chunk, _sampling, route.ReplyTo, StepKind.Generate, Loop());

    public JobAnswer Accept(object answer, RouteSteps next)
    {
        // A token for another position is no answer to the step the job waits for (tokens of one step, a ring's,
        // arrive in order from one stage, so this guards a broken peer, not a race).
        if (answer is not StageMessages.TokenSampled t || t.Position != _progress.Tokens.Count)
        {
            return JobAnswer.NotMine.Instance;
        }

        string delta;
        try
        {
            delta = _progress.Accept(t.Token);
        }
        catch (InvalidRequestException e)
        {
            // E.g. a model whose vocabulary is padded beyond the tokenizer's emitted an id the tokenizer lacks.
            return new JobAnswer.Unusable($"cannot decode token {t.Token}: {e.Message}");
        }

        var text = Deltas(t, delta);
        return _progress.Done ? new JobAnswer.Completed(text)
            : t.Continued ? new JobAnswer.Continuing(text)
            : new JobAnswer.Continue(text, StepPlan.Next(_id, next.Step, next.Hops, next.Rest, t.Position, t.Token, _sampling, next.ReplyTo, Loop()));
    }

    /// <summary>
    /// The deltas a token gives: its text, if any, and when the job asked for log-probabilities the tokens since the
    /// last delta (held back with their text, and flushed with an empty text at the end). An EOS that ends the job
    /// is no generated token and brings no log-probability.
    /// </summary>
    private JobMessages.TextDelta[] Deltas(StageMessages.TokenSampled t, string delta)
    {
        if (_sampling.Logprobs < 0)
        {
            return delta.Length > 0 ? [new JobMessages.TextDelta(_id, _sequence++, delta)] : [];
        }

        if (_progress.Finish != FinishReason.Eos)
        {
            _pending.Add(new SampledToken(t.Token, t.Logprobs));
        }

        if (delta.Length == 0 && !(_progress.Done && _pending.Count > 0))
        {
            return [];
        }

        var tokens = _pending.ToArray();
        _pending.Clear();
        return [new JobMessages.TextDelta(_id, _sequence++, delta, tokens)];
    }

    public object Result(JobReport report) => new JobMessages.GenerationCompleted(
        _id,
        _progress.Text,
        _progress.PromptIds.Length,
        _progress.GeneratedCount,
        _progress.Finish ?? throw new InvalidOperationException("the generation is not complete"),
        report.Prefill.TotalMilliseconds,
        report.Decode.TotalMilliseconds,
        report.Stages,
        report.Route,
        report.Failovers);
}
