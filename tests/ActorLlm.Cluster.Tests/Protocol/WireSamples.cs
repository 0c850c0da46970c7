using ActorLlm.Protocol;
using ActorLlm.Protocol.Messages;
using Akka.Actor;

namespace ActorLlm.Cluster.Tests.Protocol;

/// <summary>One filled-in instance of every wire message.</summary>
public static class WireSamples
{
    public static WireGenerationOptions Options { get; } = new(16, new WireSampling(0.7f, 40, 0.9f, 1.1f, 42), ["\n\n"], true);

    private static DeviceDescriptor Device => new(new NodeAddress("akka.tcp://actorllm@127.0.0.1:5001"), "cpu", "m1", 1L << 30, 123.5, DType.F32);

    public static StageMessages.Forward Forward(IActorRef actor, TensorPayload? hidden) =>
        new(new SessionId("s1"), 3, new UnitRange(0, 3), 5, [7, 8], hidden, [new RouteHop(actor, new UnitRange(3, 7))], actor, StepKind.Generate, Options.Sampling, 0, 0, [new StageTiming("a", 1.5, 2, 3)]);

    public static IReadOnlyList<object> All(IActorRef actor)
    {
        var session = new SessionId("s1");
        var range = new UnitRange(0, 3);
        var timings = new[] { new StageTiming("stage-a", 2.5, 4, 16) };
        return
        [
            new PlacementMessages.RegisterDevice(Device, actor, actor, [0, 1, 2], new ModelId("stories260K"), [range]),
            new PlacementMessages.DeviceRegistered(Device.Key, true, ""),
            new PlacementMessages.AssignUnits(4, range, [new PlacementMessages.UnitSource(1, [actor])]),
            new PlacementMessages.UnitsLoaded(Device.Key, 4, range, 0.25),
            new PlacementMessages.UnitsLoadFailed(Device.Key, 4, range, "out of memory"),
            new PlacementMessages.ReleaseUnits(4, range),
            new PlacementMessages.StageLoad(Device.Key, 2, 1, 55.5),
            new PlacementMessages.RouteTable(4, 7, [new RouteEntry(actor, Device, range, 2)], PlacementStatus.Degraded, true, (5L << 32) | 2),
            new PlacementMessages.GetRoutes(),
            new PlacementMessages.Quarantine(Device.Key, "token 3 failed verification"),
            Forward(actor, new TensorPayload(DType.BF16, [2, 8], new byte[32])) with
            {
                Loop = 5,
                Ring = [new RouteHop(actor, range), new RouteHop(actor, new UnitRange(3, 7))],
                FromRing = true,
            },
            new StageMessages.TokenSampled(session, 3, 99, 6, timings, Continued: true),
            new StageMessages.PrefillDone(session, 1, timings),
            new StageMessages.ChoiceScored(session, 2, -3.25, timings),
            new StageMessages.Audited(session, 2, 17, [new TokenLogprobs(-0.5f, [3, 9], [-0.5f, -1.25f])], timings),
            new StageMessages.StageFailed(session, 3, Device.Key, "bad", false),
            new StageMessages.ReleaseSession(session),
            new StageMessages.Supersede(session, 4),
            new WeightMessages.FetchManifest(),
            new WeightMessages.ManifestReply("{}"u8.ToArray()),
            new WeightMessages.FetchFileChunk("tokenizer.json", 1024, 4096),
            new WeightMessages.FileChunk("tokenizer.json", 1024, [1, 2, 3], 5000),
            new WeightMessages.FileUnavailable("tokenizer.json", "not here"),
            new WeightMessages.FetchUnitChunk(2, 1024, 4096),
            new WeightMessages.UnitChunk(2, 1024, [1, 2, 3], 5000),
            new WeightMessages.UnitUnavailable(2, "not here"),
            new JobMessages.StartGeneration(session, "Once"u8.ToArray(), Options, actor),
            new JobMessages.StartScoring(session, "Q"u8.ToArray(), ["a", "b"], actor),
            new JobMessages.TextDelta(session, 0, "Once"),
            new JobMessages.JobRouted(session, 1, ["worker-1:cpu [begin..layer.2]"], [new NodeAddress("akka.tcp://actorllm@127.0.0.1:5001")]),
            new JobMessages.GenerationCompleted(session, "Once upon", 1, 2, FinishReason.Stop, 1.5, 20.25, [new StageStats("a", 1, 2, 3, 45)], ["a", "b"], 0),
            new JobMessages.ScoringCompleted(session, [new ScoredChoice(0, "a", -1.5, 1)]),
            new JobMessages.JobFailed(session, "no route"),
            new StatusMessages.GetClusterStatus(),
            new StatusMessages.ClusterStatus(
                [new MemberInfo(new NodeAddress("akka.tcp://actorllm@127.0.0.1:5000"), "Up", ["gateway"], true)],
                [new DeviceStatus(Device, range, range, 1, 0, 10.5, 0)],
                4,
                7,
                5,
                2,
                1,
                PlacementStatus.Degraded,
                false,
                ["only one machine"]),
        ];
    }
}
