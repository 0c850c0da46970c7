using Akka.Actor;
using MessagePack;

namespace ActorLlm.Protocol.Messages;

/// <summary>Generation options as submitted by a client.</summary>
/// <param name="TrustedOnly">Route the job through trusted devices only, never a volunteer's (private prompts); it waits
/// for such a route like any job waits for one.</param>
[MessagePackObject]
public sealed record WireGenerationOptions(
    [property: Key(0)] int MaxTokens,
    [property: Key(1)] WireSampling Sampling,
    [property: Key(2)] string[] StopStrings,
    [property: Key(3)] bool StopAtEos,
    [property: Key(4)] bool TrustedOnly = false);

/// <summary>Per-stage time summed over a job.</summary>
/// <param name="DecodeBatchSteps">Over the job's decode steps, the steps of the executor pass each ran in, summed: over
/// <paramref name="DecodeSteps"/>, the mean batch the job's decode steps ran in at this stage.</param>
[MessagePackObject]
public sealed record StageStats(
    [property: Key(0)] string Stage,
    [property: Key(1)] double PrefillMs,
    [property: Key(2)] double DecodeMs,
    [property: Key(3)] int DecodeSteps,
    [property: Key(4)] long DecodeBatchSteps)
{
    /// <summary>The mean batch the job's decode steps ran in here (0 without decode steps).</summary>
    [IgnoreMember]
    public double MeanDecodeBatch => DecodeSteps > 0 ? (double)DecodeBatchSteps / DecodeSteps : 0;
}

/// <summary>A generated token as a client sees it: its id and, when asked for, its log-probabilities.</summary>
[MessagePackObject]
public sealed record SampledToken(
    [property: Key(0)] int Id,
    [property: Key(1)] TokenLogprobs? Logprobs);

/// <summary>Why a job failed, for a client that answers differently (an HTTP status).</summary>
public enum JobFailure
{
    /// <summary>The pool could not finish it (stages failed past the failover budget, an internal error).</summary>
    Failed = 0,

    /// <summary>The request itself is bad (a prompt over the context, invalid UTF-8, bad options): retrying fails alike.</summary>
    InvalidRequest = 1,

    /// <summary>No route covers the model (yet): placement is incomplete.</summary>
    NoRoute = 2,
}

/// <summary>One scored choice.</summary>
[MessagePackObject]
public sealed record ScoredChoice(
    [property: Key(0)] int Index,
    [property: Key(1)] string Choice,
    [property: Key(2)] double LogProbability,
    [property: Key(3)] int Tokens);

/// <summary>Jobs: a client (through the session shard region) ↔ its GenerationSession.</summary>
public static class JobMessages
{
    /// <summary>
    /// Client → GenerationSession (sharded by <paramref name="Session"/>): generate from a UTF-8 prompt (empty = from BOS).
    /// The session streams <see cref="TextDelta"/>s to <paramref name="Client"/>, then <see cref="GenerationCompleted"/>
    /// or <see cref="JobFailed"/>.
    /// </summary>
    /// <paramref name="Rendered"/>: the prompt is a rendered chat template, whose control tokens are meant (encoded
    /// as control tokens, and no BOS is added); otherwise it is user text (control-token look-alikes stay text).
    [MessagePackObject]
    public sealed record StartGeneration(
        [property: Key(0)] SessionId Session,
        [property: Key(1)] byte[] PromptUtf8,
        [property: Key(2)] WireGenerationOptions Options,
        [property: Key(3)] IActorRef Client,
        [property: Key(4)] bool Rendered = false) : IActorLlmMessage;

    /// <summary>
    /// Client → GenerationSession: score each choice as a continuation of the prompt. Reply <see cref="ScoringCompleted"/>
    /// or <see cref="JobFailed"/>.
    /// </summary>
    /// <paramref name="Rendered"/>: as for <see cref="StartGeneration"/>.
    [MessagePackObject]
    public sealed record StartScoring(
        [property: Key(0)] SessionId Session,
        [property: Key(1)] byte[] PromptUtf8,
        [property: Key(2)] string[] Choices,
        [property: Key(3)] IActorRef Client,
        [property: Key(4)] bool Rendered = false) : IActorLlmMessage;

    /// <summary>
    /// GenerationSession → client: the job runs on this route now (sent when it starts, and again after each
    /// failover with a higher <paramref name="Attempt"/>). <paramref name="Stages"/> are "label range" strings and
    /// <paramref name="Nodes"/> the stages' node addresses, first stage first.
    /// </summary>
    [MessagePackObject]
    public sealed record JobRouted(
        [property: Key(0)] SessionId Session,
        [property: Key(1)] int Attempt,
        [property: Key(2)] string[] Stages,
        [property: Key(3)] NodeAddress[] Nodes) : IActorLlmMessage;

    /// <summary>
    /// GenerationSession → client: text added by the latest tokens, in order (<paramref name="Sequence"/> 0, 1, ...).
    /// <paramref name="Tokens"/>: when the job asked for log-probabilities, the tokens sampled since the previous
    /// delta (a token whose bytes end mid-character brings no text of its own; a final delta may bring no text).
    /// </summary>
    [MessagePackObject]
    public sealed record TextDelta(
        [property: Key(0)] SessionId Session,
        [property: Key(1)] int Sequence,
        [property: Key(2)] string Text,
        [property: Key(3)] SampledToken[]? Tokens = null) : IActorLlmMessage;

    /// <summary>GenerationSession → client: the job is done.</summary>
    [MessagePackObject]
    public sealed record GenerationCompleted(
        [property: Key(0)] SessionId Session,
        [property: Key(1)] string Text,
        [property: Key(2)] int PromptTokens,
        [property: Key(3)] int GeneratedTokens,
        [property: Key(4)] FinishReason FinishReason,
        [property: Key(5)] double PrefillMs,
        [property: Key(6)] double DecodeMs,
        [property: Key(7)] StageStats[] Stages,
        [property: Key(8)] string[] Route,
        [property: Key(9)] int Failovers) : IActorLlmMessage;

    /// <summary>GenerationSession → client: the choices, best first.</summary>
    [MessagePackObject]
    public sealed record ScoringCompleted(
        [property: Key(0)] SessionId Session,
        [property: Key(1)] ScoredChoice[] Scores) : IActorLlmMessage;

    /// <summary>GenerationSession → client: the job could not be done; <paramref name="Reason"/> says why, <paramref name="Kind"/> whose fault it is.</summary>
    [MessagePackObject]
    public sealed record JobFailed(
        [property: Key(0)] SessionId Session,
        [property: Key(1)] string Reason,
        [property: Key(2)] JobFailure Kind = JobFailure.Failed) : IActorLlmMessage;
}
