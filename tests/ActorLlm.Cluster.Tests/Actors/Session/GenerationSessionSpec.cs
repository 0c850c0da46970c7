using System.Text;
using ActorLlm.Cluster.Hosting;
using ActorLlm.Cluster.Session;
using ActorLlm.Protocol;
using ActorLlm.Protocol.Messages;
using Akka.Actor;
using Akka.TestKit;
using Akka.TestKit.Xunit2;
using Xunit;
using static ActorLlm.Cluster.Tests.Actors.Session.Stages;

namespace ActorLlm.Cluster.Tests.Actors.Session;

/// <summary>
/// One GenerationSession, created as the child of a probe (its shard region stand-in, which receives Passivate),
/// with the stories260K tokenizer and a real RouteCache fed a table whose stages are probes. The test plays every
/// stage: steps arrive at the route's first stage, and the test answers as the last stage would.
/// Stages: front [0, 3) on m1 (and m4 in some tests), back [3, 7) on m2 and m3.
/// </summary>
public abstract class GenerationSessionSpec : TestKit
{
    protected const string PromptText = "Once upon a time, there was a little girl";

    /// <param name="hocon">Added to the actor system's config (e.g. a virtual-time scheduler).</param>
    protected GenerationSessionSpec(StoriesModel model, string hocon = "")
        : base(ActorTestConfig.Hocon + "\n" + hocon)
    {
        Model = model;
        Parent = CreateTestProbe("region");
        Client = CreateTestProbe("client");
        Front1 = CreateTestProbe("front-m1");
        Back2 = CreateTestProbe("back-m2");
        Back3 = CreateTestProbe("back-m3");
        RouteCacheRef = Sys.ActorOf(RouteCache.Props(ReferenceSettings.RouteCache, CreateTestProbe("coordinator").Ref, null));
    }

    protected StoriesModel Model { get; }

    protected TestProbe Parent { get; }

    protected TestProbe Client { get; }

    protected TestProbe Front1 { get; }

    protected TestProbe Back2 { get; }

    protected TestProbe Back3 { get; }

    protected IActorRef RouteCacheRef { get; }

    protected int[] PromptIds => Model.Tokenizer.Encode(PromptText);

    /// <summary>What the test's last stage "samples": ordinary text tokens, no EOS.</summary>
    protected int[] Sampled => Model.Tokenizer.Encode(" who loved to play", addSpecialTokens: false);

    protected void Publish(long version, params RouteEntry[] stages) => RouteCacheRef.Tell(Table(version, stages));

    /// <summary>Front on m1, back on m2 and (replica) m3.</summary>
    protected void PublishDefault() => Publish(1, Entry(Front1.Ref, "m1", Front), Entry(Back2.Ref, "m2", Back), Entry(Back3.Ref, "m3", Back));

    protected SessionContext Context(
        TimeSpan? stepTimeout = null,
        int maxFailovers = 3,
        int prefillChunk = 4,
        TimeSpan? routeWait = null,
        int contextLimit = 128,
        bool ring = false) =>
        new(
            Model.Tokenizer,
            new SessionSettings(stepTimeout ?? TimeSpan.FromSeconds(30), maxFailovers, prefillChunk, routeWait ?? TimeSpan.FromSeconds(30), ring),
            StoriesModel.Hidden,
            StoriesModel.Layers,
            contextLimit,
            6 * 1024 * 1024,
            RouteCacheRef);

    /// <summary>
    /// A session entity named by its id, as the shard region names it. The parent probe creates it, answering through
    /// its own queue, so that queue must be empty (a finished session's Passivate taken) before the next spawn.
    /// </summary>
    protected IActorRef Spawn(SessionId id, SessionContext? context = null) => Parent.ChildActorOf(GenerationSession.Props(context ?? Context()), id.Value);

    protected JobMessages.StartGeneration Generate(SessionId id, int maxTokens, string prompt = PromptText) =>
        new(id, Encoding.UTF8.GetBytes(prompt), new WireGenerationOptions(maxTokens, WireSampling.Greedy, [], true), Client.Ref);

    /// <summary>
    /// The steps of one pass through the route (a prompt, or a replay): every chunk sent to <paramref name="first"/>,
    /// the last one of <see cref="StepKind.Generate"/> kind, all of one step number, routed on through
    /// <paramref name="next"/>. Checks they carry <paramref name="tokens"/> from position 0 in chunks of <paramref name="chunk"/>.
    /// </summary>
    /// A stage that was on the route the session left gets that route's Supersede first (see <see cref="ExpectSuperseded"/>);
    /// it is skipped here.
    protected static IReadOnlyList<StageMessages.Forward> ExpectPass(TestProbe first, TestProbe next, IReadOnlyList<int> tokens, int chunk = 4)
    {
        int count = (tokens.Count + chunk - 1) / chunk;
        var steps = Enumerable.Range(0, count).Select(i => i == 0 ? ExpectStep(first) : first.ExpectMsg<StageMessages.Forward>()).ToList();
        Assert.Equal(tokens, steps.SelectMany(s => s.TokenIds));
        Assert.Equal(Enumerable.Range(0, count).Select(i => i * chunk), steps.Select(s => s.StartPosition));
        Assert.Equal([.. Enumerable.Repeat(StepKind.Prefill, count - 1), StepKind.Generate], steps.Select(s => s.Kind));
        Assert.All(steps, s =>
        {
            Assert.Equal(steps[0].Step, s.Step);
            Assert.Equal(Front, s.Range);
            Assert.Equal([new RouteHop(next.Ref, Back)], s.Rest);
            Assert.Null(s.Hidden);
            Assert.Equal(WireSampling.Greedy, s.Sampling);
        });
        return steps;
    }

    /// <summary>The next step <paramref name="stage"/> gets, after any Supersede of a route the session left.</summary>
    protected static StageMessages.Forward ExpectStep(TestProbe stage)
    {
        while (true)
        {
            switch (stage.ExpectMsg<object>())
            {
                case StageMessages.Supersede:
                    break;
                case StageMessages.Forward f:
                    return f;
                case var other:
                    throw new Xunit.Sdk.XunitException($"expected a step, got {other}");
            }
        }
    }

    /// <summary>The Supersede a stage of a route the session left gets: the session's steps below <paramref name="below"/> are given up on.</summary>
    protected static void ExpectSuperseded(TestProbe stage, SessionId session, long below)
    {
        var s = stage.ExpectMsg<StageMessages.Supersede>();
        Assert.Equal((session, below), (s.Session, s.Step));
    }

    /// <summary>Answers a pass as the last stage: PrefillDone for each chunk but the last, then the sampled token.</summary>
    protected static void Answer(IReadOnlyList<StageMessages.Forward> pass, int token)
    {
        foreach (var chunk in pass.Take(pass.Count - 1))
        {
            chunk.ReplyTo.Tell(new StageMessages.PrefillDone(chunk.Session, chunk.Step, [new StageTiming("m2:cpu", 1, chunk.TokenIds.Length, 1)]));
        }

        Sample(pass[^1], token);
    }

    /// <param name="batchSteps">The steps the last stage says it ran this one with.</param>
    protected static void Sample(StageMessages.Forward step, int token, int batchSteps = 1) =>
        step.ReplyTo.Tell(new StageMessages.TokenSampled(step.Session, step.Step, token, step.StartPosition + step.TokenIds.Length, [new StageTiming("m2:cpu", 1, step.TokenIds.Length, batchSteps)]));

    protected static void Fail(StageMessages.Forward step, string machine, string reason, bool retryable) =>
        step.ReplyTo.Tell(new StageMessages.StageFailed(step.Session, step.Step, Key(machine), reason, retryable));

    /// <summary>
    /// The client's messages up to the job's end: the route of each attempt (JobRouted, checked to be numbered 1, 2,
    /// ...), text deltas (checked to be in sequence), then the final message.
    /// </summary>
    protected (string Streamed, object End, IReadOnlyList<JobMessages.JobRouted> Routes) ExpectJobEnd()
    {
        var text = new StringBuilder();
        var routes = new List<JobMessages.JobRouted>();
        int sequence = 0;
        while (true)
        {
            switch (Client.ExpectMsg<object>())
            {
                case JobMessages.TextDelta delta:
                    Assert.Equal(sequence++, delta.Sequence);
                    text.Append(delta.Text);
                    break;
                case JobMessages.JobRouted routed:
                    Assert.Equal(routes.Count + 1, routed.Attempt);
                    routes.Add(routed);
                    break;
                case var end:
                    return (text.ToString(), end, routes);
            }
        }
    }

    /// <summary>
    /// Returns once <paramref name="session"/> has handled every message the test sent it before, and whatever it was
    /// handling when the test saw its last output (it answers Identify in mailbox order): e.g. it has armed the step
    /// timer that its last steps, or the answer just sent, start.
    /// </summary>
    protected void Settle(IActorRef session)
    {
        var probe = CreateTestProbe();
        session.Tell(new Identify(null), probe.Ref);
        probe.ExpectMsg<ActorIdentity>();
    }

    /// <summary>
    /// Sends <paramref name="session"/> another job from another client and expects it refused (a session runs one
    /// job, and refuses others until the region stops it). The session handles its mailbox in order, and probes
    /// take a message as it is sent, so whatever the session sent in answer to messages the test sent before is
    /// in the probes' queues by the time this returns: a cheap way to show something did not happen.
    /// </summary>
    protected void ExpectRefused(IActorRef session, SessionId id)
    {
        var other = CreateTestProbe();
        session.Tell(Generate(id, maxTokens: 1) with { Client = other.Ref });
        Assert.Contains("already running a job", other.ExpectMsg<JobMessages.JobFailed>().Reason);
    }

    /// <summary>What the session owes every stage it used when the job ends: ReleaseSession, and Passivate to its parent.</summary>
    protected void ExpectReleased(SessionId session, params TestProbe[] stages)
    {
        foreach (var stage in stages)
        {
            stage.FishForMessage<StageMessages.ReleaseSession>(r => r.Session == session);
        }

        Parent.ExpectMsg<Akka.Cluster.Sharding.Passivate>();
    }
}
