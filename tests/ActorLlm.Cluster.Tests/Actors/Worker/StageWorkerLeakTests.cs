using ActorLlm.Cluster.Worker;
using ActorLlm.Protocol;
using ActorLlm.Protocol.Messages;
using Akka.Actor;
using Akka.TestKit;
using Xunit;

namespace ActorLlm.Cluster.Tests.Actors.Worker;

/// <summary>
/// The actor path keeps TorchSharp memory flat: hundreds of steps through a real worker on its pinned thread
/// (payload decoding, both stages' forward passes, activations encoded for the next hop, sampling, refusals) leave
/// the number of live tensors on that thread where it was.
/// </summary>
public sealed class StageWorkerLeakTests(StoriesModel model) : StageWorkerSpec(model), IClassFixture<StoriesModel>
{
    private const int Sessions = 2;

    private const int DecodeSteps = 30;

    [Fact]
    public void Prefill_decode_and_refused_steps_through_two_stages_keep_the_live_tensor_count_on_the_workers_thread_flat()
    {
        // Both stages on one worker: [0, 3) sends its activations on to [3, 7), which samples.
        var worker = StartWorker(null, First, Last);
        var probes = Enumerable.Range(0, Sessions).Select(_ => CreateTestProbe()).ToArray();

        Run(worker, probes);
        var before = LiveTensors(worker);
        for (int round = 0; round < 4; round++)
        {
            Run(worker, probes);
        }

        var after = LiveTensors(worker);
        Assert.NotEqual(Environment.CurrentManagedThreadId, before.ThreadId);
        Assert.Equal(before.ThreadId, after.ThreadId);
        Assert.Equal(before.Count, after.Count);
    }

    /// <summary>
    /// One job per probe, side by side so their steps batch: a prompt in two chunks (sent together, so the second
    /// waits a pass), then single-token decode steps, then the release; and one step refused for a bad payload.
    /// </summary>
    private static void Run(IActorRef worker, TestProbe[] probes)
    {
        RouteHop[] toLast = [new(worker, Last)];
        var ids = probes.Select(_ => SessionId.New()).ToArray();
        for (int s = 0; s < probes.Length; s++)
        {
            worker.Tell(Step(ids[s], First, 0, Prompt[..5], probes[s].Ref, rest: toLast, kind: StepKind.Prefill));
            worker.Tell(Step(ids[s], First, 5, Prompt[5..], probes[s].Ref, rest: toLast));
        }

        var tokens = new int[probes.Length];
        for (int s = 0; s < probes.Length; s++)
        {
            probes[s].ExpectMsg<StageMessages.PrefillDone>();
            tokens[s] = probes[s].ExpectMsg<StageMessages.TokenSampled>().Token;
        }

        for (int step = 0; step < DecodeSteps; step++)
        {
            int position = Prompt.Length + step;
            for (int s = 0; s < probes.Length; s++)
            {
                worker.Tell(Step(ids[s], First, position, [tokens[s]], probes[s].Ref, rest: toLast, step: step + 2));
            }

            for (int s = 0; s < probes.Length; s++)
            {
                var sampled = probes[s].ExpectMsg<StageMessages.TokenSampled>();
                Assert.Equal(position + 1, sampled.Position);
                tokens[s] = sampled.Token;
            }
        }

        worker.Tell(Step(SessionId.New(), Last, 0, Prompt, probes[0].Ref, StoriesModel.Payload(Prompt.Length, StoriesModel.Hidden, float.NaN)));
        Assert.False(probes[0].ExpectMsg<StageMessages.StageFailed>().Retryable);
        foreach (var id in ids)
        {
            worker.Tell(new StageMessages.ReleaseSession(id));
        }
    }

    private StageWorker.LiveTensors LiveTensors(IActorRef worker)
    {
        var asker = CreateTestProbe();
        worker.Tell(StageWorker.GetLiveTensors.Instance, asker.Ref);
        return asker.ExpectMsg<StageWorker.LiveTensors>();
    }
}
