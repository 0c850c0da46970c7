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
    private int _sequence;

    private GenerationJob(SessionId id, GenerationProgress progress, WireSampling sampling, int chunk)
    {
        _id = id;
        _progress = progress;
        _sampling = sampling;
        _chunk = chunk;
        StageSessions = [id];
    }

    public IReadOnlyList<SessionId> StageSessions { get; }

    public bool Complete => _progress.Done;

    /// <summary>The job <paramref name="start"/> asks for; a bad prompt or options are an InvalidRequestException.</summary>
    public static GenerationJob Create(SessionContext ctx, SessionId id, JobMessages.StartGeneration start)
    {
        int[] ids = Prompt.EncodeUtf8(ctx.Tokenizer, start.PromptUtf8);
        var progress = new GenerationProgress(ctx.Tokenizer, ids, WireOptions.ToOptions(start.Options), ctx.ContextLimit);
        int chunk = StepPlan.ChunkTokens(ctx.Settings.PrefillChunk, ctx.HiddenSize, ctx.MaxPayloadBytes);
        return new GenerationJob(id, progress, start.Options.Sampling, chunk);
    }

    /// <summary>
    /// Every token so far from position 0: a first run is the prefill; a replay feeds the prompt and everything
    /// generated through the new route, whose last chunk samples the next token exactly as the lost route would have.
    /// </summary>
    public IReadOnlyList<StageMessages.Forward> Start(RouteSteps route) =>
        StepPlan.Run(_id, route.Step, route.Hops, 0, _progress.Tokens, _chunk, _sampling, route.ReplyTo, StepKind.Generate);

    public JobAnswer Accept(object answer, RouteSteps next)
    {
        if (answer is not StageMessages.TokenSampled t)
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

        JobMessages.TextDelta[] text = delta.Length > 0 ? [new JobMessages.TextDelta(_id, _sequence++, delta)] : [];
        return _progress.Done
            ? new JobAnswer.Completed(text)
            : new JobAnswer.Continue(text, StepPlan.Next(_id, next.Step, next.Hops, next.Rest, t.Position, t.Token, _sampling, next.ReplyTo));
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
