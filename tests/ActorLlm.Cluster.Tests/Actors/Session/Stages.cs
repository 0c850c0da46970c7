using ActorLlm.Protocol;
using ActorLlm.Protocol.Messages;
using Akka.Actor;

namespace ActorLlm.Cluster.Tests.Actors.Session;

/// <summary>Route tables over stories260K's 7 units whose stages are test probes, one device per machine.</summary>
internal static class Stages
{
    public static readonly UnitRange Front = new(0, 3);

    public static readonly UnitRange Back = new(3, StoriesModel.Units);

    /// <summary>The node address of the device on <paramref name="machine"/> (as a worker's node would advertise it).</summary>
    public static NodeAddress NodeOf(string machine) => new($"akka.tcp://pool@{machine}:2552");

    public static DeviceDescriptor Device(string machine) => new(NodeOf(machine), "cpu", machine, 1_000_000_000, 100, DType.F32);

    public static DeviceKey Key(string machine) => Device(machine).Key;

    public static RouteEntry Entry(IActorRef worker, string machine, UnitRange range, int activeSessions = 0) =>
        new(worker, Device(machine), range, activeSessions);

    public static PlacementMessages.RouteTable Table(long version, params RouteEntry[] stages) =>
        new(version, StoriesModel.Units, stages, PlacementStatus.Complete, false, 0);

    /// <summary>A table of coordinator incarnation <paramref name="epoch"/>.</summary>
    public static PlacementMessages.RouteTable Table(long epoch, long version, params RouteEntry[] stages) =>
        Table(version, stages) with { Epoch = epoch };
}
