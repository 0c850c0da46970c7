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
    private readonly Func<GenerationProgress> _fresh;
    private readonly List<(int Token, TokenLogprobs? Logprobs)> _sampled = [];
    private GenerationProgress _progress;
    private readonly WireSampling _sampling;
    private readonly WireSampling _wire;
    private readonly int _chunk;
    private readonly int _maxTokens;
    private readonly int _contextLimit;
    private readonly bool _ring;
    private readonly List<SampledToken> _pending = [];
    private int _sequence;

    private GenerationJob(SessionId id, Func<GenerationProgress> fresh, WireSampling sampling, int chunk, int maxTokens, int contextLimit, bool ring, int verificationLogprobs)
    {
        _id = id;
        _fresh = fresh;
        _progress = fresh();
        _sampling = sampling;

        // Verification compares the route's reports of every token: the steps ask for at least that many alternatives
        // (the client still gets only what it asked for).
        _wire = verificationLogprobs > sampling.Logprobs ? sampling with { Logprobs = verificationLogprobs } : sampling;
        _chunk = chunk;
        _maxTokens = maxTokens;
        _contextLimit = contextLimit;
        _ring = ring;
        StageSessions = [id];
    }

    public IReadOnlyList<SessionId> StageSessions { get; }

    public bool TrustedOnly { get; private init; }

    public bool Complete => _progress.Done;

    /// <summary>The job <paramref name="start"/> asks for; a bad prompt or options are an InvalidRequestException.</summary>
    public static GenerationJob Create(SessionContext ctx, SessionId id, JobMessages.StartGeneration start)
    {
        if (start.Options.Sampling.Logprobs is < -1 or > WireSampling.MaxLogprobs)
        {
            throw new InvalidRequestException($"logprobs must be -1 (none) to {WireSampling.MaxLogprobs}, got {start.Options.Sampling.Logprobs}");
        }

        int[] ids = Prompt.EncodeUtf8(ctx.Tokenizer, start.PromptUtf8, start.Rendered);
        var options = WireOptions.ToOptions(start.Options);
        GenerationProgress Fresh() => new(ctx.Tokenizer, ids, options, ctx.ContextLimit);
        _ = Fresh();
        int chunk = StepPlan.ChunkTokens(ctx.Settings.PrefillChunk, ctx.HiddenSize, ctx.MaxPayloadBytes);
        var verify = ctx.Settings.Verify;
        return new GenerationJob(id, Fresh, start.Options.Sampling, chunk, start.Options.MaxTokens, ctx.ContextLimit, ctx.Settings.Ring, verify.Enabled ? verify.TopLogprobs : -1)
        {
            TrustedOnly = start.Options.TrustedOnly,
        };
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
        StepPlan.Run(_id, route.Step, route.Hops, 0, _progress.Tokens, _chunk, _wire, route.ReplyTo, StepKind.Generate, Loop());

    public JobAnswer Accept(object answer, RouteSteps next)
    {
        // A token for another position is no answer to the step the job waits for (tokens of one step, a ring's,
        // arrive in order from one stage, so this guards a broken peer, not a race).
        if (answer is not StageMessages.TokenSampled t || t.Position != _progress.Tokens.Count)
        {
            return JobAnswer.NotMine.Instance;
        }

        JobMessages.TextDelta[] text;
        try
        {
            text = Take(t.Token, t.Logprobs);
        }
        catch (InvalidRequestException e)
        {
            // E.g. a model whose vocabulary is padded beyond the tokenizer's emitted an id the tokenizer lacks.
            return new JobAnswer.Unusable($"cannot decode token {t.Token}: {e.Message}");
        }

        return _progress.Done ? new JobAnswer.Completed(text)
            : t.Continued ? new JobAnswer.Continuing(text)
            : new JobAnswer.Continue(text, StepPlan.Next(_id, next.Step, next.Hops, next.Rest, t.Position, t.Token, _wire, next.ReplyTo, Loop()));
    }

    private JobMessages.TextDelta[] Take(int token, TokenLogprobs? logprobs)
    {
        string delta = _progress.Accept(token);
        _sampled.Add((token, logprobs));
        return Deltas(token, logprobs, delta);
    }

    /// <summary>Prompt tokens (verification: the history's first part).</summary>
    public int PromptTokens => _progress.PromptIds.Length;

    /// <summary>Tokens the route sampled and the job took, the one that ended it (an EOS) included.</summary>
    public int Sampled => _sampled.Count;

    /// <summary>The prompt and every sampled token: what an audit feeds a trusted route.</summary>
    public IEnumerable<int> History => _progress.PromptIds.Concat(_sampled.Select(s => s.Token));

    /// <summary>What the route reported of sampled token <paramref name="index"/>'s distribution (null: nothing).</summary>
    public TokenLogprobs? Reported(int index) => _sampled[index].Logprobs;

    /// <summary>Greedy without penalty: every chosen token must be a most likely one.</summary>
    public bool Greedy => _sampling is { Temperature: 0, RepetitionPenalty: 1f };

    /// <summary>
    /// Goes back to the state after the first <paramref name="keep"/> sampled tokens (verification caught a wrong one):
    /// the text, stop-string state and delta numbering are those the same tokens give, so the deltas already sent for
    /// them stay valid, and a replay continues from there.
    /// </summary>
    public void Rewind(int keep)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(keep, _sampled.Count);
        var kept = _sampled.Take(keep).ToList();
        _sampled.Clear();
        _pending.Clear();
        _sequence = 0;
        _progress = _fresh();
        foreach (var (token, logprobs) in kept)
        {
            _ = Take(token, logprobs);
        }
    }

    /// <summary>
    /// The deltas a token gives: its text, if any, and when the job asked for log-probabilities the tokens since the
    /// last delta (held back with their text, and flushed with an empty text at the end). An EOS that ends the job
    /// is no generated token and brings no log-probability.
    /// </summary>
    private JobMessages.TextDelta[] Deltas(int token, TokenLogprobs? logprobs, string delta)
    {
        if (_sampling.Logprobs < 0)
        {
            return delta.Length > 0 ? [new JobMessages.TextDelta(_id, _sequence++, delta)] : [];
        }

        if (_progress.Finish != FinishReason.Eos)
        {
            // The client's count of alternatives (a verified job's steps ask for more).
            var shown = logprobs is null || logprobs.TopIds.Length <= _sampling.Logprobs
                ? logprobs
                : logprobs with { TopIds = logprobs.TopIds[.._sampling.Logprobs], TopLogprobs = logprobs.TopLogprobs[.._sampling.Logprobs] };
            _pending.Add(new SampledToken(token, shown));
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
