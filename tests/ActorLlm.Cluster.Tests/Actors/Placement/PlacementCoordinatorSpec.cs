using ActorLlm.Cluster.Hosting;
using ActorLlm.Cluster.Placement;
using ActorLlm.Cluster.Session;
using ActorLlm.Protocol;
using ActorLlm.Protocol.Messages;
using Akka.Actor;
using Akka.Cluster.Tools.PublishSubscribe;
using Akka.TestKit;
using Akka.TestKit.Xunit2;
using Xunit;

namespace ActorLlm.Cluster.Tests.Actors.Placement;

/// <summary>
/// One PlacementCoordinator with test probes as the stage workers, their unit servers and the pub-sub mediator.
/// The model is hand-made: 5 layers (7 units) of 1000 bytes, layers and end costing 1, begin 0.01. With equal
/// devices the planner gives two devices [0, 4) and [4, 7), and a third joining takes [2, 4) from the first.
/// </summary>
public abstract class PlacementCoordinatorSpec : TestKit
{
    protected static readonly TimeSpan Settle = TimeSpan.FromMilliseconds(100);

    protected static readonly ModelUnits Model = new(
        new ModelId("model-a"),
        5,
        [.. Enumerable.Range(0, 7).Select(i => new UnitPlanInput(i, 1000, i == 0 ? 0.01 : 1.0))]);

    /// <summary>Units the coordinator's own node holds (its UnitServer is a source of these).</summary>
    protected static readonly int[] CoordinatorUnits = [0, 1];

    private readonly List<PlacementMessages.RouteTable> _published = [];

    protected PlacementCoordinatorSpec()
        : base(ActorTestConfig.Hocon)
    {
        Mediator = CreateTestProbe("mediator");
        LocalUnitServer = CreateTestProbe("local-units");
    }

    protected TestProbe Mediator { get; }

    protected TestProbe LocalUnitServer { get; }

    /// <summary>A device as the tests play it: its worker and its node's unit server are probes.</summary>
    protected sealed record Device(DeviceDescriptor Descriptor, TestProbe Worker, TestProbe Units)
    {
        public DeviceKey Key => Descriptor.Key;

        public override string ToString() => Descriptor.Label;
    }

    protected IActorRef StartCoordinator(int redundancy = 1) =>
        Sys.ActorOf(PlacementCoordinator.Props(
            Model,
            new PlacementSettings(redundancy, 0.9, Settle, TimeSpan.FromSeconds(1), TimeSpan.FromMinutes(1), TimeSpan.FromSeconds(3), TimeSpan.FromSeconds(60), ClaimCaps.Default),
            LocalUnitServer.Ref,
            CoordinatorUnits,
            Mediator.Ref));

    protected Device NewDevice(string machine) => new(
        new DeviceDescriptor(new NodeAddress($"akka.tcp://pool@{machine}:2552"), "cpu", machine, 1_000_000_000, 100, DType.F32),
        CreateTestProbe("worker-" + machine),
        CreateTestProbe("units-" + machine));

    protected static PlacementMessages.RegisterDevice Registration(Device d, ModelId? modelId = null, UnitRange[]? serving = null) =>
        new(d.Descriptor, d.Worker.Ref, d.Units.Ref, [.. Enumerable.Range(0, Model.UnitCount)], modelId ?? Model.ModelId, serving ?? []);

    /// <summary>Registers a new device (holding every unit file) and checks it was accepted.</summary>
    protected Device Join(IActorRef coordinator, string machine, UnitRange[]? serving = null) => JoinAll(coordinator, [(machine, serving ?? [])])[0];

    /// <summary>
    /// Registers new devices all at once (one re-plan after the settle time, however slow the machine) and checks
    /// each was accepted.
    /// </summary>
    protected Device[] JoinAll(IActorRef coordinator, params string[] machines) => JoinAll(coordinator, [.. machines.Select(m => (m, Array.Empty<UnitRange>()))]);

    private Device[] JoinAll(IActorRef coordinator, (string Machine, UnitRange[] Serving)[] joining)
    {
        var devices = joining.Select(j => NewDevice(j.Machine)).ToArray();
        for (int i = 0; i < devices.Length; i++)
        {
            coordinator.Tell(Registration(devices[i], serving: joining[i].Serving), devices[i].Worker.Ref);
        }

        foreach (var d in devices)
        {
            var reply = d.Worker.ExpectMsg<PlacementMessages.DeviceRegistered>();
            Assert.True(reply.Accepted, reply.Reason);
            Assert.Equal(d.Key, reply.DeviceKey);
        }

        return devices;
    }

    protected static void Loaded(IActorRef coordinator, Device d, PlacementMessages.AssignUnits a) =>
        coordinator.Tell(new PlacementMessages.UnitsLoaded(d.Key, a.Version, a.Range, 0.01), d.Worker.Ref);

    /// <summary>Each device's assignment, answered as loaded; returns them.</summary>
    protected Dictionary<Device, PlacementMessages.AssignUnits> RollOut(IActorRef coordinator, params Device[] devices)
    {
        var assigned = devices.ToDictionary(d => d, d => d.Worker.ExpectMsg<PlacementMessages.AssignUnits>());
        foreach (var (d, a) in assigned)
        {
            Loaded(coordinator, d, a);
        }

        AwaitAssert(() => Assert.True(Plan(coordinator).RolloutComplete));
        return assigned;
    }

    protected PlacementMessages.RouteTable Routes(IActorRef coordinator)
    {
        var asker = CreateTestProbe();
        coordinator.Tell(new PlacementMessages.GetRoutes(), asker.Ref);
        return asker.ExpectMsg<PlacementMessages.RouteTable>();
    }

    protected PlacementCoordinator.PlanState Plan(IActorRef coordinator)
    {
        var asker = CreateTestProbe();
        coordinator.Tell(PlacementCoordinator.GetPlan.Instance, asker.Ref);
        return asker.ExpectMsg<PlacementCoordinator.PlanState>();
    }

    protected StatusMessages.ClusterStatus Status(IActorRef coordinator)
    {
        var asker = CreateTestProbe();
        coordinator.Tell(new StatusMessages.GetClusterStatus(), asker.Ref);
        return asker.ExpectMsg<StatusMessages.ClusterStatus>();
    }

    /// <summary>
    /// Every route table published so far, in order (each a Publish on the routes topic). Ask the coordinator
    /// something first: its reply comes after every publication it made before.
    /// </summary>
    protected IReadOnlyList<PlacementMessages.RouteTable> Published()
    {
        while (Mediator.HasMessages)
        {
            var publish = Mediator.ExpectMsg<Publish>();
            Assert.Equal(PlacementCoordinator.RoutesTopic, publish.Topic);
            _published.Add(Assert.IsType<PlacementMessages.RouteTable>(publish.Message));
        }

        return _published;
    }

    /// <summary>Device key and range of each stage, sorted: a table's content, for comparisons.</summary>
    protected static string[] Stages(PlacementMessages.RouteTable table) =>
        [.. table.Stages.Select(s => $"{s.Device.Key} {s.Range}").Order()];

    /// <summary>The same for a plan's assignments.</summary>
    protected static string[] Stages(PlacementPlan plan) =>
        [.. plan.Assignments.Select(a => $"{a.Device} {a.Range}").Order()];

    /// <summary>True when the table's stages chain from the first unit to the last.</summary>
    protected static bool Covers(PlacementMessages.RouteTable table) =>
        RouteSelection.Select(table.Stages, Model.UnitCount, new HashSet<DeviceKey>(), _ => 0) is not null;
}
