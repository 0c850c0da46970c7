using ActorLlm.Protocol;
using ActorLlm.Protocol.Messages;
using Akka.Actor;
using Akka.TestKit;
using Xunit;
using static ActorLlm.Cluster.Tests.Actors.Session.Stages;

namespace ActorLlm.Cluster.Tests.Actors.Session;

/// <summary>
/// The step timeout in virtual time (Akka.TestKit's TestScheduler: timers fire only when the test advances the
/// clock, so how busy the machine is cannot move them). Before advancing, the test lets the session settle, so each
/// timer has been armed when the clock moves.
/// </summary>
public sealed class SessionTimeoutTests(StoriesModel model)
    : GenerationSessionSpec(model, """akka.scheduler.implementation = "Akka.TestKit.TestScheduler, Akka.TestKit" """), IClassFixture<StoriesModel>
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(1);

    private static readonly TimeSpan s_justShort = s_timeout - TimeSpan.FromMilliseconds(1);

    private TestScheduler Clock => (TestScheduler)Sys.Scheduler;

    [Fact]
    public void A_step_that_times_out_is_replayed_through_a_route_avoiding_every_stage_of_the_silent_one()
    {
        var front4 = CreateTestProbe("front-m4");
        Publish(1, Entry(Front1.Ref, "m1", Front), Entry(front4.Ref, "m4", Front), Entry(Back2.Ref, "m2", Back), Entry(Back3.Ref, "m3", Back));
        var id = SessionId.New();
        var session = Spawn(id, Context(stepTimeout: s_timeout));
        session.Tell(Generate(id, maxTokens: 1));
        int[] prompt = PromptIds;
        var silent = ExpectPass(Front1, Back2, prompt);

        // Nobody answers: which stage hung is unknown, so the replay avoids both.
        Settle(session);
        Clock.Advance(s_timeout);
        var replay = ExpectPass(front4, Back3, prompt);
        Answer(silent, 7);
        Answer(replay, Sampled[0]);

        var done = Assert.IsType<JobMessages.GenerationCompleted>(ExpectJobEnd().End);
        Assert.Equal(1, done.Failovers);
        ExpectReleased(id, Front1, Back2, front4, Back3);
    }

    [Fact]
    public void A_long_prompt_whose_chunks_each_answer_in_time_is_not_timed_out()
    {
        // The step timeout bounds the wait for an answer; each prefill chunk's PrefillDone is one.
        PublishDefault();
        var id = SessionId.New();
        var session = Spawn(id, Context(stepTimeout: s_timeout));
        session.Tell(Generate(id, maxTokens: 1));
        var pass = ExpectPass(Front1, Back2, PromptIds);
        Assert.True(pass.Count >= 3);

        // Together the waits last the timeout several times over; none of them does alone. A timeout would have
        // replayed the prompt before the answer that follows it, and the job would not end as the next step.
        foreach (var chunk in pass.Take(pass.Count - 1))
        {
            Settle(session);
            Clock.Advance(s_justShort);
            chunk.ReplyTo.Tell(new StageMessages.PrefillDone(chunk.Session, chunk.Step, []));
        }

        Settle(session);
        Clock.Advance(s_justShort);
        Sample(pass[^1], Sampled[0]);
        var (_, end, routes) = ExpectJobEnd();
        Assert.Equal(0, Assert.IsType<JobMessages.GenerationCompleted>(end).Failovers);
        Assert.Single(routes);
    }
}
