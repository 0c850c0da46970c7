using ActorLlm.Protocol;
using ActorLlm.Protocol.Messages;
using Akka.Actor;

namespace ActorLlm.Cluster.Session.Internal;

/// <summary>
/// One kind of job a session runs (<see cref="GenerationJob"/>, <see cref="ScoringJob"/>): its own state, the steps it
/// sends, the answers it takes, and what the client gets at the end. The session does everything both kinds share:
/// routing, step numbers, timeouts, failover, statistics, releasing the stages. A job never sees an answer of an
/// earlier step (the session drops those), and after a failover it starts again from its beginning.
/// </summary>
internal interface ISessionJob
{
    /// <summary>The sessions the stages hold state under for this job; each is released on every stage used.</summary>
    IReadOnlyList<SessionId> StageSessions { get; }

    /// <summary>Routes through trusted devices only (never a volunteer's): asked by the job, or because it cannot be audited.</summary>
    bool TrustedOnly { get; }

    /// <summary>Over: the client gets <see cref="Result"/>. Can hold before any step (a generation of no tokens).</summary>
    bool Complete { get; }

    /// <summary>
    /// The steps that run the job from its beginning through a route, in order: the first run, and after a failover
    /// the replay of everything so far (which then ends exactly as the lost route's step would have).
    /// </summary>
    IReadOnlyList<StageMessages.Forward> Start(RouteSteps route);

    /// <summary>
    /// Takes an answer of the current step. <paramref name="next"/> is where and under which number a next step
    /// goes, should the answer call for one.
    /// </summary>
    JobAnswer Accept(object answer, RouteSteps next);

    /// <summary>The client's last message once <see cref="Complete"/>.</summary>
    object Result(JobReport report);
}

/// <summary>
/// Where a job's steps go: the step number they carry, the route as message hops (all of them, and all but the
/// first: built once per route, not per token), and who the last stage answers.
/// </summary>
internal sealed record RouteSteps(long Step, RouteHop[] Hops, RouteHop[] Rest, IActorRef ReplyTo);

/// <summary>What the session measured of a job, for its result.</summary>
/// <param name="Prefill">From the job's start to its first sampled token (zero if none).</param>
/// <param name="Decode">From the first sampled token to the end (zero if none).</param>
/// <param name="Route">The last route, as labels (empty if the job never had one).</param>
internal sealed record JobReport(TimeSpan Prefill, TimeSpan Decode, StageStats[] Stages, string[] Route, int Failovers);

/// <summary>What an answer of the current step did to a job.</summary>
internal abstract record JobAnswer
{
    private JobAnswer()
    {
    }

    /// <summary>Not an answer this kind of job asks for: dropped.</summary>
    public sealed record NotMine : JobAnswer
    {
        public static NotMine Instance { get; } = new();
    }

    /// <summary>Taken; the step waits for more answers (the other choices of a scoring round).</summary>
    public sealed record Waiting : JobAnswer
    {
        public static Waiting Instance { get; } = new();
    }

    /// <summary>The step is answered and the job goes on: <paramref name="Text"/> to the client, then <paramref name="Next"/> as the next step.</summary>
    public sealed record Continue(IReadOnlyList<JobMessages.TextDelta> Text, StageMessages.Forward Next) : JobAnswer;

    /// <summary>
    /// The step is answered and the job goes on with a step the route's last stage already sent (the ring): only
    /// <paramref name="Text"/> to the client; the step number stays, as the ring's steps carry it.
    /// </summary>
    public sealed record Continuing(IReadOnlyList<JobMessages.TextDelta> Text) : JobAnswer;

    /// <summary>The job is complete: <paramref name="Text"/> to the client, then its result.</summary>
    public sealed record Completed(IReadOnlyList<JobMessages.TextDelta> Text) : JobAnswer;

    /// <summary>The answer cannot be used: the job fails with <paramref name="Reason"/>.</summary>
    public sealed record Unusable(string Reason) : JobAnswer;
}
