using System.Text;
using ActorLlm.Inference;
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
    private static readonly UTF8Encoding s_strict = new(false, true);
    private readonly string[] _choices;
    private readonly (int[] Sequence, int Start)[] _sequences;
    private readonly double?[] _scores;
    private readonly int _length;
    private readonly int _pad;

    private ScoringJob(string[] choices, (int[], int)[] sequences, int pad, SessionId id)
    {
        _choices = choices;
        _sequences = sequences;
        _scores = new double?[choices.Length];
        _length = sequences.Max(s => s.Item1.Length);
        _pad = pad;
        SubSessions = [.. choices.Select((_, i) => new SessionId($"{id.Value}.c{i}"))];
    }

    public IReadOnlyList<SessionId> SubSessions { get; }

    public bool Complete => _scores.All(s => s is not null);

    public static ScoringJob Create(TextTokenizer tokenizer, byte[] promptUtf8, string[] choices, int contextLimit, SessionId id)
    {
        if (choices.Length == 0)
        {
            throw new InvalidRequestException("give at least one choice to score");
        }

        string prompt;
        try
        {
            prompt = s_strict.GetString(promptUtf8);
        }
        catch (DecoderFallbackException e)
        {
            throw new InvalidRequestException($"prompt is not valid UTF-8 (byte {e.Index})");
        }

        int[] promptIds = tokenizer.Encode(prompt);
        if (promptIds.Length == 0 && tokenizer.BosId is int bos)
        {
            promptIds = [bos];
        }

        var sequences = choices.Select(c => ChoiceScoring.Sequence(tokenizer, prompt, promptIds, c)).ToArray();
        int length = sequences.Max(s => s.Sequence.Length);
        if (length > contextLimit)
        {
            throw new InvalidRequestException($"prompt + choice is {length} tokens but the context holds {contextLimit}");
        }

        int pad = tokenizer.EosIds.Count > 0 ? tokenizer.EosIds.Min() : 0;
        return new ScoringJob(choices, sequences, pad, id);
    }

    /// <summary>Every choice's step (all of them again after a failover).</summary>
    public IEnumerable<StageMessages.Forward> Steps(long step, IReadOnlyList<RouteEntry> route, IActorRef replyTo)
    {
        Array.Fill(_scores, null);
        for (int i = 0; i < _choices.Length; i++)
        {
            yield return StepPlan.Score(SubSessions[i], step, route, _sequences[i].Sequence, _sequences[i].Start, _length, _pad, replyTo);
        }
    }

    public bool Record(StageMessages.ChoiceScored s)
    {
        int i = SubSessions.ToList().IndexOf(s.Session);
        if (i < 0)
        {
            return false;
        }

        _scores[i] = s.LogProbability;
        return true;
    }

    public ScoredChoice[] Results() =>
        [.. _choices.Select((c, i) => new ScoredChoice(i, c, _scores[i] ?? double.NaN, _sequences[i].Sequence.Length - _sequences[i].Start))
            .OrderByDescending(s => s.LogProbability)
            .ThenBy(s => s.Index)];
}
