using ActorLlm.Inference.Generation;
using ActorLlm.Inference.Tokenization;
using ActorLlm.Protocol;
using ActorLlm.Protocol.Messages;
using Akka.Actor;

namespace ActorLlm.Cluster.Session.Internal;

/// <summary>
/// A scoring job: each choice runs as its own sub-session (prompt + choice, padded to one length so the stages
/// batch all of them into one pass), and the last stage returns the choice tokens' total log-probability.
/// </summary>
internal sealed class ScoringJob
{
    private readonly string[] _choices;
    private readonly ScoringBatch _batch;
    private readonly double?[] _scores;

    private ScoringJob(string[] choices, ScoringBatch batch, SessionId id)
    {
        _choices = choices;
        _batch = batch;
        _scores = new double?[choices.Length];
        SubSessions = [.. choices.Select((_, i) => new SessionId($"{id.Value}.c{i}"))];
    }

    public IReadOnlyList<SessionId> SubSessions { get; }

    public bool Complete => _scores.All(s => s is not null);

    public static ScoringJob Create(TextTokenizer tokenizer, byte[] promptUtf8, string[] choices, int contextLimit, SessionId id) =>
        new(choices, ChoiceScoring.Prepare(tokenizer, Prompt.DecodeUtf8(promptUtf8), choices, contextLimit), id);

    /// <summary>Every choice's step (all of them again after a failover).</summary>
    public IEnumerable<StageMessages.Forward> Steps(long step, RouteHop[] hops, IActorRef replyTo)
    {
        Array.Fill(_scores, null);
        for (int i = 0; i < _choices.Length; i++)
        {
            var (sequence, start) = _batch.Choices[i];
            yield return StepPlan.Score(SubSessions[i], step, hops, _batch.Padded(i), start, sequence.Length, replyTo);
        }
    }

    public bool Record(StageMessages.ChoiceScored s)
    {
        int i = Array.IndexOf([.. SubSessions], s.Session);
        if (i < 0)
        {
            return false;
        }

        _scores[i] = s.LogProbability;
        return true;
    }

    public ScoredChoice[] Results() =>
        [.. _choices.Select((c, i) => new ScoredChoice(i, c, _scores[i] ?? double.NaN, _batch.Choices[i].Sequence.Length - _batch.Choices[i].ChoiceStart))
            .OrderByDescending(s => s.LogProbability)
            .ThenBy(s => s.Index)];
}
