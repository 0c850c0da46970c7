using ActorLlm.Inference.Generation;
using ActorLlm.Protocol;
using ActorLlm.Protocol.Messages;

namespace ActorLlm.Cluster.Session.Internal;

/// <summary>
/// A scoring job: each choice runs as its own sub-session (prompt + choice, padded to one length so the stages
/// batch all of them into one pass), and the last stage returns the choice tokens' total log-probability. One step
/// carries every choice; the job is complete when each has its score from that step.
/// </summary>
internal sealed class ScoringJob : ISessionJob
{
    private readonly SessionId _id;
    private readonly string[] _choices;
    private readonly ScoringBatch _batch;
    private readonly SessionId[] _subSessions;
    private readonly double?[] _scores;

    private ScoringJob(SessionId id, string[] choices, ScoringBatch batch)
    {
        _id = id;
        _choices = choices;
        _batch = batch;
        _scores = new double?[choices.Length];
        _subSessions = [.. choices.Select((_, i) => new SessionId($"{id.Value}.c{i}"))];
    }

    public IReadOnlyList<SessionId> StageSessions => _subSessions;

    public bool Complete => _scores.All(s => s is not null);

    /// <summary>Scores are not audited: with verification on, a scoring job never goes through a volunteer.</summary>
    public bool TrustedOnly { get; private init; }

    /// <summary>The job <paramref name="start"/> asks for; a bad prompt or choices are an InvalidRequestException.</summary>
    public static ScoringJob Create(SessionContext ctx, SessionId id, JobMessages.StartScoring start) =>
        new(id, start.Choices, ChoiceScoring.Prepare(ctx.Tokenizer, Prompt.DecodeUtf8(start.PromptUtf8), start.Choices, ctx.ContextLimit, start.Rendered))
        {
            TrustedOnly = ctx.Settings.Verify.Enabled,
        };

    /// <summary>Every choice's step; after a failover all of them again (scores of the lost route are forgotten).</summary>
    public IReadOnlyList<StageMessages.Forward> Start(RouteSteps route)
    {
        Array.Fill(_scores, null);
        return [.. _choices.Select((_, i) =>
        {
            var (sequence, start) = _batch.Choices[i];
            return StepPlan.Score(_subSessions[i], route.Step, route.Hops, _batch.Padded(i), start, sequence.Length, route.ReplyTo);
        })];
    }

    /// <summary>A choice's score; an answer for a sub-session this job does not have is dropped while the round waits.</summary>
    public JobAnswer Accept(object answer, RouteSteps next)
    {
        if (answer is not StageMessages.ChoiceScored s)
        {
            return JobAnswer.NotMine.Instance;
        }

        int i = Array.IndexOf(_subSessions, s.Session);
        if (i >= 0)
        {
            _scores[i] = s.LogProbability;
        }

        return i >= 0 && Complete ? new JobAnswer.Completed([]) : JobAnswer.Waiting.Instance;
    }

    public object Result(JobReport report) => new JobMessages.ScoringCompleted(
        _id,
        [.. _choices.Select((c, i) => new ScoredChoice(i, c, _scores[i] ?? double.NaN, _batch.Choices[i].Sequence.Length - _batch.Choices[i].ChoiceStart))
            .OrderByDescending(s => s.LogProbability)
            .ThenBy(s => s.Index)]);
}
