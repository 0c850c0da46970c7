using ActorLlm.Protocol;
using ActorLlm.Protocol.Messages;
using Akka.Actor;

namespace ActorLlm.Cluster.Session.Internal;

/// <summary>How a session turns tokens into Forward messages for a route.</summary>
internal static class StepPlan
{
    /// <summary>
    /// Tokens per prefill message: the configured chunk, but never so many that the activations ([T, hidden] in
    /// float32, the widest wire dtype) exceed the payload bound.
    /// </summary>
    public static int ChunkTokens(int configured, int hiddenSize, long maxPayloadBytes) =>
        (int)Math.Max(1, Math.Min(configured, maxPayloadBytes / (hiddenSize * 4L)));

    /// <summary>
    /// Messages that run <paramref name="tokens"/> from position <paramref name="start"/> through the route
    /// (<paramref name="hops"/>, first stage first: computed once per route), cut into chunks: every chunk but the
    /// last only fills the caches (<see cref="StepKind.Prefill"/>); the last has <paramref name="finalKind"/>.
    /// All go to the route's first stage, in order. <paramref name="loop"/>: ring steps the route's last stage may start
    /// on its own after the last chunk (see StageMessages.Forward; 0 = none).
    /// </summary>
    public static IReadOnlyList<StageMessages.Forward> Run(
        SessionId session,
        long step,
        RouteHop[] hops,
        int start,
        IReadOnlyList<int> tokens,
        int chunk,
        WireSampling sampling,
        IActorRef replyTo,
        StepKind finalKind,
        int loop = 0)
    {
        var rest = hops[1..];
        var messages = new List<StageMessages.Forward>();
        for (int from = 0; from < tokens.Count; from += chunk)
        {
            int n = Math.Min(chunk, tokens.Count - from);
            bool last = from + n == tokens.Count;
            messages.Add(new StageMessages.Forward(
                session,
                step,
                hops[0].Range,
                start + from,
                [.. tokens.Skip(from).Take(n)],
                null,
                rest,
                replyTo,
                last ? finalKind : StepKind.Prefill,
                sampling,
                0,
                0,
                [],
                last ? loop : 0,
                last && loop > 0 ? hops : null));
        }

        return messages;
    }

    /// <summary>The next decode step: one token at <paramref name="position"/>, and <paramref name="loop"/> ring steps after it.</summary>
    public static StageMessages.Forward Next(SessionId session, long step, RouteHop[] hops, RouteHop[] rest, int position, int token, WireSampling sampling, IActorRef replyTo, int loop = 0) =>
        new(session, step, hops[0].Range, position, [token], null, rest, replyTo, StepKind.Generate, sampling, 0, 0, [], loop, loop > 0 ? hops : null);

    /// <summary>One choice of a scoring job (the padded sequence of <see cref="Inference.Generation.ScoringBatch"/>).</summary>
    public static StageMessages.Forward Score(SessionId session, long step, RouteHop[] hops, int[] padded, int choiceStart, int choiceEnd, IActorRef replyTo) =>
        new(session, step, hops[0].Range, 0, padded, null, hops[1..], replyTo, StepKind.Score, WireSampling.Greedy, choiceStart, choiceEnd, []);
}
