using ActorLlm.Cluster.Worker;
using ActorLlm.Inference.Checkpoints;
using ActorLlm.Inference.Devices;
using ActorLlm.Inference.Execution;
using ActorLlm.Protocol;
using ActorLlm.Protocol.Messages;
using Akka.Actor;
using Akka.TestKit;
using Akka.TestKit.Xunit2;
using Xunit;

namespace ActorLlm.Cluster.Tests.Actors.Worker;

/// <summary>
/// One StageWorker on the CPU over stories260K, with test probes as its coordinator and its node's unit server.
/// The worker is given its capacity directly (no measuring).
/// </summary>
public abstract class StageWorkerSpec : TestKit
{
    protected static readonly TimeSpan Retry = TimeSpan.FromMilliseconds(100);

    /// <summary>Loading (and pulling units) is quick for this model; the margin is for a loaded build machine.</summary>
    protected static readonly TimeSpan LoadWait = TimeSpan.FromSeconds(15);

    protected static readonly UnitRange First = new(0, 3);

    protected static readonly UnitRange Last = new(3, StoriesModel.Units);

    protected StageWorkerSpec(StoriesModel model)
        : base(ActorTestConfig.Hocon)
    {
        Model = model;
        Coordinator = CreateTestProbe("coordinator");
        OwnUnitServer = CreateTestProbe("own-units");
    }

    protected StoriesModel Model { get; }

    protected TestProbe Coordinator { get; }

    /// <summary>The worker's own node's UnitServer: announced in registrations, never asked by the worker itself.</summary>
    protected TestProbe OwnUnitServer { get; }

    protected static int[] Prompt => StoriesModel.Prompt;

    /// <summary>The key the worker registers under: its node's address and its device.</summary>
    protected DeviceKey WorkerKey => new(NodeAddress.Of(Akka.Cluster.Cluster.Get(Sys).SelfAddress), "cpu");

    protected StageWorkerSettings Settings(TimeSpan? loadReport = null, TimeSpan? drainTimeout = null, int maxSessions = 8, TimeSpan? sessionIdleTimeout = null, TimeSpan? registerBackoffMax = null) => new(
        "cpu",
        ComputeTarget.Cpu,
        "m1",
        new DeviceCapacity(1_000_000_000, 5000),
        new KvCacheOptions(maxSessions, 128),
        Retry,
        loadReport ?? TimeSpan.FromHours(1),
        drainTimeout ?? TimeSpan.FromHours(1),
        Retry,
        new BatchOptions { MaxTokensPerPass = ReferenceSettings.Value.Worker.MaxTokensPerPass },
        ReferenceSettings.Value.Worker.ReleasedSessionMemory,
        ReferenceSettings.Fetch,
        Model.ModelId,
        sessionIdleTimeout ?? TimeSpan.FromHours(1),
        registerBackoffMax ?? Retry);

    protected IActorRef Spawn(UnitStore? store = null, TimeSpan? loadReport = null, TimeSpan? drainTimeout = null, int maxSessions = 8, TimeSpan? sessionIdleTimeout = null, TimeSpan? registerBackoffMax = null) =>
        Sys.ActorOf(StageWorker.Props(Settings(loadReport, drainTimeout, maxSessions, sessionIdleTimeout, registerBackoffMax), store ?? Model.Store, Coordinator.Ref, OwnUnitServer.Ref));

    /// <summary>A registered worker serving <paramref name="ranges"/> (each loaded in turn, versions 1, 2, ...).</summary>
    protected IActorRef StartWorker(UnitStore? store, params UnitRange[] ranges)
    {
        var worker = Spawn(store);
        Accept(worker);
        for (int i = 0; i < ranges.Length; i++)
        {
            Load(worker, ranges[i], i + 1);
        }

        return worker;
    }

    /// <summary>Answers the worker's registration and waits until it has taken the answer in.</summary>
    protected void Accept(IActorRef worker)
    {
        var registration = Coordinator.ExpectMsg<PlacementMessages.RegisterDevice>();
        Coordinator.Reply(new PlacementMessages.DeviceRegistered(registration.Device.Key, true, ""));
        AwaitAssert(() => Assert.True(State(worker).Registered));

        // Registrations sent before the answer arrived are already queued here; none can follow.
        while (Coordinator.HasMessages)
        {
            Coordinator.ExpectMsg<PlacementMessages.RegisterDevice>();
        }
    }

    protected StageWorker.State State(IActorRef worker)
    {
        var asker = CreateTestProbe();
        worker.Tell(StageWorker.GetState.Instance, asker.Ref);
        return asker.ExpectMsg<StageWorker.State>();
    }

    protected PlacementMessages.UnitsLoaded Load(IActorRef worker, UnitRange range, long version, PlacementMessages.UnitSource[]? sources = null)
    {
        worker.Tell(new PlacementMessages.AssignUnits(version, range, sources ?? []), Coordinator.Ref);
        var loaded = Coordinator.ExpectMsg<PlacementMessages.UnitsLoaded>(LoadWait);
        Assert.Equal((WorkerKey, version, range), (loaded.DeviceKey, loaded.Version, loaded.Range));
        return loaded;
    }

    /// <summary>A step as a session (or the previous stage) sends it; greedy sampling.</summary>
    protected static StageMessages.Forward Step(
        SessionId session,
        UnitRange range,
        int start,
        int[] ids,
        IActorRef replyTo,
        TensorPayload? hidden = null,
        RouteHop[]? rest = null,
        StepKind kind = StepKind.Generate,
        long step = 1,
        int choiceStart = 0,
        int choiceEnd = 0) =>
        new(session, step, range, start, ids, hidden, rest ?? [], replyTo, kind, WireSampling.Greedy, choiceStart, choiceEnd, []);

    protected static void AssertClose(float[] expected, float[] actual, double tolerance)
    {
        Assert.Equal(expected.Length, actual.Length);
        double worst = expected.Zip(actual, (e, a) => Math.Abs(e - a)).Max();
        Assert.True(worst <= tolerance, $"largest difference {worst} exceeds {tolerance}");
    }
}
