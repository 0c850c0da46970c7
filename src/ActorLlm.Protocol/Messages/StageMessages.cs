using Akka.Actor;
using MessagePack;

namespace ActorLlm.Protocol.Messages;

/// <summary>What the last stage does with the logits of a step.</summary>
public enum StepKind
{
    /// <summary>Sample the next token and send it to the session.</summary>
    Generate = 0,

    /// <summary>A prompt chunk that is not the last: fill the caches, sample nothing, acknowledge.</summary>
    Prefill = 1,

    /// <summary>Score a choice: the log-probability of the tokens from <c>ChoiceStart</c> on.</summary>
    Score = 2,

    /// <summary>
    /// Verification: run the tokens and report, for every position from <c>ChoiceStart</c> to the one before the last,
    /// the log-probability of the token that follows it in the step and the <c>Sampling.Logprobs</c> most likely
    /// tokens (<see cref="StageMessages.Audited"/>).
    /// </summary>
    Audit = 3,
}

/// <summary>Sampling settings as they travel with each step (see the inference core's SamplingParams).</summary>
/// <param name="Logprobs">-1: no log-probabilities; 0..<see cref="MaxLogprobs"/>: the last stage reports the chosen
/// token's log-probability and that many of the most likely alternatives with each token.</param>
[MessagePackObject]
public sealed record WireSampling(
    [property: Key(0)] float Temperature,
    [property: Key(1)] int TopK,
    [property: Key(2)] float TopP,
    [property: Key(3)] float RepetitionPenalty,
    [property: Key(4)] ulong Seed,
    [property: Key(5)] int Logprobs = -1)
{
    /// <summary>The most alternatives a token's log-probabilities may list (OpenAI's top_logprobs bound).</summary>
    public const int MaxLogprobs = 20;

    public static WireSampling Greedy { get; } = new(0, 0, 1, 1, 0);
}

/// <summary>
/// A sampled token's log-probability and the <c>TopIds.Length</c> most likely tokens at its position with theirs,
/// most likely first (the chosen token may be among them).
/// </summary>
[MessagePackObject]
public sealed record TokenLogprobs(
    [property: Key(0)] float Logprob,
    [property: Key(1)] int[] TopIds,
    [property: Key(2)] float[] TopLogprobs);

/// <summary>One stage of a route: the worker and the unit range it is asked to run (a worker may serve two ranges while it hands over).</summary>
[MessagePackObject]
public sealed record RouteHop(
    [property: Key(0)] IActorRef Worker,
    [property: Key(1)] UnitRange Range);

/// <summary>Time one stage spent on one step (appended by each stage as the step passes).</summary>
/// <param name="ComputeMs">The whole executor pass the step ran in (every step batched with it took as long).</param>
/// <param name="BatchSteps">Steps in that pass, this one included: how well the stage's scheduler batched.</param>
[MessagePackObject]
public sealed record StageTiming(
    [property: Key(0)] string Stage,
    [property: Key(1)] double ComputeMs,
    [property: Key(2)] int Tokens,
    [property: Key(3)] int BatchSteps);

/// <summary>Activation traffic between GenerationSessions and StageWorkers.</summary>
public static class StageMessages
{
    /// <summary>
    /// GenerationSession → first StageWorker of a route, then each stage → the next (<paramref name="Rest"/>
    /// holds the hops still ahead): run units <paramref name="Range"/> over tokens
    /// [StartPosition, StartPosition + TokenIds.Length) of the session. A stage without the begin unit needs
    /// <paramref name="Hidden"/> [T, hidden]. The last stage answers the session (<paramref name="ReplyTo"/>) with
    /// <see cref="TokenSampled"/>, <see cref="PrefillDone"/> or <see cref="ChoiceScored"/> by <paramref name="Kind"/>;
    /// any stage that cannot run the step answers <see cref="StageFailed"/> instead. <paramref name="Step"/> lets the
    /// session drop late answers. For <see cref="StepKind.Score"/>, tokens [ChoiceStart, ChoiceEnd) are the choice
    /// (the rest is padding so that choices of different lengths run as one batch).
    /// <para>The ring: a <see cref="StepKind.Generate"/> step with <paramref name="Loop"/> above 0 carries the whole
    /// route in <paramref name="Ring"/>. Its last stage then sends the step for the token it sampled straight to the
    /// route's first stage (same session, step number and sampling, <paramref name="Loop"/> one less,
    /// <paramref name="FromRing"/> set) before it answers the session with <see cref="TokenSampled"/>
    /// (<c>Continued</c> set), so the session is off the per-token path but still sees every token, and decides
    /// the end and any failover: it stops a ring with <see cref="Supersede"/> or <see cref="ReleaseSession"/>.
    /// A ring step for a session its stage no longer holds, or numbered below a superseded step, is dropped.</para>
    /// </summary>
    [MessagePackObject]
    public sealed record Forward(
        [property: Key(0)] SessionId Session,
        [property: Key(1)] long Step,
        [property: Key(2)] UnitRange Range,
        [property: Key(3)] int StartPosition,
        [property: Key(4)] int[] TokenIds,
        [property: Key(5)] TensorPayload? Hidden,
        [property: Key(6)] RouteHop[] Rest,
        [property: Key(7)] IActorRef ReplyTo,
        [property: Key(8)] StepKind Kind,
        [property: Key(9)] WireSampling Sampling,
        [property: Key(10)] int ChoiceStart,
        [property: Key(11)] int ChoiceEnd,
        [property: Key(12)] StageTiming[] Timings,
        [property: Key(13)] int Loop = 0,
        [property: Key(14)] RouteHop[]? Ring = null,
        [property: Key(15)] bool FromRing = false) : IActorLlmMessage;

    /// <summary>
    /// Last StageWorker → GenerationSession: the token chosen for <paramref name="Position"/>. <paramref name="Continued"/>:
    /// the stage has already sent the step that feeds this token to the route's first stage (the ring, see
    /// <see cref="Forward"/>), so the session sends none.
    /// </summary>
    /// <paramref name="Logprobs"/>: when the step's sampling asked for them, the token's log-probability and the
    /// most likely alternatives, under the model's distribution before temperature, top-k and top-p.
    [MessagePackObject]
    public sealed record TokenSampled(
        [property: Key(0)] SessionId Session,
        [property: Key(1)] long Step,
        [property: Key(2)] int Token,
        [property: Key(3)] int Position,
        [property: Key(4)] StageTiming[] Timings,
        [property: Key(5)] bool Continued = false,
        [property: Key(6)] TokenLogprobs? Logprobs = null) : IActorLlmMessage;

    /// <summary>Last StageWorker → GenerationSession: a non-final prompt chunk went through every stage.</summary>
    [MessagePackObject]
    public sealed record PrefillDone(
        [property: Key(0)] SessionId Session,
        [property: Key(1)] long Step,
        [property: Key(2)] StageTiming[] Timings) : IActorLlmMessage;

    /// <summary>Last StageWorker → GenerationSession: the log-probability of a scored choice's tokens.</summary>
    [MessagePackObject]
    public sealed record ChoiceScored(
        [property: Key(0)] SessionId Session,
        [property: Key(1)] long Step,
        [property: Key(2)] double LogProbability,
        [property: Key(3)] StageTiming[] Timings) : IActorLlmMessage;

    /// <summary>
    /// Last StageWorker → GenerationSession, for a <see cref="StepKind.Audit"/> step: <paramref name="Rows"/>[i] is the
    /// distribution at position <paramref name="FirstPosition"/> + i over the token after it (its
    /// <c>Logprob</c> that of the token the step carried there).
    /// </summary>
    [MessagePackObject]
    public sealed record Audited(
        [property: Key(0)] SessionId Session,
        [property: Key(1)] long Step,
        [property: Key(2)] int FirstPosition,
        [property: Key(3)] TokenLogprobs[] Rows,
        [property: Key(4)] StageTiming[] Timings) : IActorLlmMessage;

    /// <summary>
    /// Any StageWorker → GenerationSession: the step could not run there. <paramref name="Stage"/> is the failing
    /// device (DeviceDescriptor.Key) so the session can route around it; <paramref name="Retryable"/> is false
    /// when the request itself is bad (retrying elsewhere would fail the same way).
    /// </summary>
    [MessagePackObject]
    public sealed record StageFailed(
        [property: Key(0)] SessionId Session,
        [property: Key(1)] long Step,
        [property: Key(2)] DeviceKey Stage,
        [property: Key(3)] string Reason,
        [property: Key(4)] bool Retryable) : IActorLlmMessage;

    /// <summary>
    /// GenerationSession → every StageWorker of a route it leaves (a failover): the session's steps numbered below
    /// <paramref name="Step"/> are given up on; drop them, and any ring step of theirs, as they arrive. No reply. The
    /// KV cache stays until <see cref="ReleaseSession"/> (a replay on a route sharing the stage overwrites it).
    /// </summary>
    [MessagePackObject]
    public sealed record Supersede(
        [property: Key(0)] SessionId Session,
        [property: Key(1)] long Step) : IActorLlmMessage;

    /// <summary>GenerationSession → every StageWorker it used: free the session's KV cache. No reply.</summary>
    [MessagePackObject]
    public sealed record ReleaseSession([property: Key(0)] SessionId Session) : IActorLlmMessage;
}
