using ActorLlm.Protocol;
using ActorLlm.Protocol.Messages;
using Akka.Actor;
using Xunit;

namespace ActorLlm.Cluster.Tests.Actors.Worker;

/// <summary>
/// The ring on real workers: the last stage sends each sampled token's step straight to the first stage (and tells the
/// session it did), until the step's loop budget is spent; steps a session superseded, and ring steps of a session a
/// stage no longer holds, are dropped unanswered.
/// </summary>
public sealed class StageWorkerRingTests(StoriesModel model) : StageWorkerSpec(model), IClassFixture<StoriesModel>
{
    private static RouteHop[] Ring(IActorRef front, IActorRef back) => [new RouteHop(front, First), new RouteHop(back, Last)];

    [Fact]
    public void The_last_stage_loops_each_sampled_token_to_the_first_stage_for_the_steps_allowed_and_the_tokens_are_the_single_process_ones()
    {
        var front = StartWorker(null, First);
        var back = StartWorker(null, Last);
        var session = CreateTestProbe();
        var id = SessionId.New();
        var ring = Ring(front, back);

        front.Tell(Step(id, First, 0, Prompt, session.Ref, rest: [ring[1]], step: 9) with { Loop = 3, Ring = ring });

        using var whole = StoriesModel.Reference(StoriesModel.Whole);
        var reference = SessionId.New();
        int expected = StoriesModel.GreedyNext(whole, reference, 0, Prompt);
        for (int i = 0; i < 4; i++)
        {
            var token = session.ExpectMsg<StageMessages.TokenSampled>();
            Assert.Equal((id, 9L, Prompt.Length + i, expected), (token.Session, token.Step, token.Position, token.Token));
            Assert.Equal(i < 3, token.Continued);
            Assert.Equal(["m1:cpu", "m1:cpu"], token.Timings.Select(t => t.Stage));
            expected = StoriesModel.GreedyNext(whole, reference, token.Position, [token.Token]);
        }

        // Budget spent: the ring stops there, and the session gets nothing more (answers go out in the order sent).
        front.Tell(Step(SessionId.New(), First, 0, Prompt, session.Ref, rest: [ring[1]], kind: StepKind.Prefill, step: 1));
        Assert.IsType<StageMessages.PrefillDone>(session.ExpectMsg<object>());
    }

    [Fact]
    public void Steps_below_a_superseded_step_and_ring_steps_of_a_session_the_stage_does_not_hold_are_dropped_unanswered()
    {
        var worker = StartWorker(null, Last);
        using var first = StoriesModel.Reference(First);
        var session = CreateTestProbe();
        var id = SessionId.New();
        var hidden = StoriesModel.HiddenOf(first, id, 0, Prompt);

        // Superseded: step 4 is dropped, step 5 runs; the first answer the session gets is step 5's.
        worker.Tell(new StageMessages.Supersede(id, 5));
        worker.Tell(Step(id, Last, 0, Prompt, session.Ref, hidden, step: 4));
        worker.Tell(Step(id, Last, 0, Prompt, session.Ref, hidden, step: 5));
        Assert.Equal(5L, session.ExpectMsg<StageMessages.TokenSampled>().Step);

        // A ring step of a session this stage never held (one released while the ring was in flight) is dropped;
        // the same step from a session (a new session's first step would be) runs, and fails here for its gap.
        var gone = SessionId.New();
        var late = Step(gone, Last, 12, [7], session.Ref, StoriesModel.Payload(1, StoriesModel.Hidden), step: 3) with { FromRing = true };
        worker.Tell(late);
        worker.Tell(late with { FromRing = false, Step = 4 });
        var failed = session.ExpectMsg<StageMessages.StageFailed>();
        Assert.Equal((gone, 4L, false), (failed.Session, failed.Step, failed.Retryable));

        // (After a release the session's late steps are dropped too: StageWorkerReleaseTests.)
    }
}
