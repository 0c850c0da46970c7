using ActorLlm.Protocol;
using ActorLlm.Protocol.Messages;
using Akka.Actor;
using Xunit;

namespace ActorLlm.Cluster.Tests.Actors.Worker;

/// <summary>
/// A released session is never scheduled again on a worker: neither a step of it still queued when the release
/// arrives, nor one that arrives after it (it was still passing upstream stages), runs or takes a KV cache slot.
/// </summary>
public sealed class StageWorkerReleaseTests(StoriesModel model) : StageWorkerSpec(model), IClassFixture<StoriesModel>
{
    [Fact]
    public void A_step_arriving_after_its_sessions_release_is_dropped_and_takes_no_slot()
    {
        var worker = StartWorker(null, StoriesModel.Whole);
        var late = (Id: SessionId.New(), Probe: CreateTestProbe());
        var other = (Id: SessionId.New(), Probe: CreateTestProbe());

        worker.Tell(new StageMessages.ReleaseSession(late.Id));
        worker.Tell(Step(late.Id, StoriesModel.Whole, 0, Prompt, late.Probe.Ref));
        worker.Tell(Step(other.Id, StoriesModel.Whole, 0, Prompt, other.Probe.Ref));

        // The late step would have run no later than the other one, in the same pass or before, and been answered first.
        other.Probe.ExpectMsg<StageMessages.TokenSampled>();
        Assert.False(late.Probe.HasMessages);
        Assert.Equal(1, State(worker).ActiveSessions);
    }

    [Fact]
    public void A_step_still_queued_when_its_session_is_released_never_holds_a_slot_afterwards()
    {
        var worker = StartWorker(null, StoriesModel.Whole);
        var busy = (Id: SessionId.New(), Probe: CreateTestProbe());
        var released = (Id: SessionId.New(), Probe: CreateTestProbe());
        var marker = (Id: SessionId.New(), Probe: CreateTestProbe());
        int[] longPrompt = [.. Enumerable.Range(0, 120).Select(i => Prompt[i % Prompt.Length])];

        // Once the worker answers GetState it has taken the busy prompt in and queued its pass ahead of what follows;
        // while that pass runs, the released session's step and its release queue up behind it, the order in which a
        // worker once ran the step after the release. Whichever order the worker sees, the slot must end up free.
        worker.Tell(Step(busy.Id, StoriesModel.Whole, 0, longPrompt, busy.Probe.Ref));
        State(worker);
        worker.Tell(Step(released.Id, StoriesModel.Whole, 0, Prompt, released.Probe.Ref));
        worker.Tell(new StageMessages.ReleaseSession(released.Id));
        worker.Tell(Step(marker.Id, StoriesModel.Whole, 0, Prompt, marker.Probe.Ref));

        busy.Probe.ExpectMsg<StageMessages.TokenSampled>();
        marker.Probe.ExpectMsg<StageMessages.TokenSampled>();
        Assert.Equal(2, State(worker).ActiveSessions);
    }
}
