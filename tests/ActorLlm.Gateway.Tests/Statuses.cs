using ActorLlm.Protocol;
using ActorLlm.Protocol.Messages;

namespace ActorLlm.Gateway.Tests;

/// <summary>Statuses as the placement coordinator would give them, for a model of 5 layers (7 units).</summary>
internal static class Statuses
{
    public const int Layers = 5;

    public static DeviceStatus Device(string machine, UnitRange? assigned, UnitRange? serving, int group = 0, int sessions = 0, int queued = 0, double tps = 0) =>
        new(new DeviceDescriptor(new NodeAddress($"akka.tcp://actorllm@10.0.0.{machine.Length}:{4000 + machine.Sum(c => c)}"), "cpu", machine, 8L << 30, 1000, DType.F32),
            assigned, serving, sessions, queued, tps, group);

    public static StatusMessages.ClusterStatus Status(long version, PlacementStatus placement, params DeviceStatus[] devices) =>
        new(
            [new MemberInfo(new NodeAddress("akka.tcp://actorllm@10.0.0.1:4050"), "Up", ["gateway"], true)],
            devices,
            version,
            Layers + 2,
            Layers,
            1,
            devices.Length > 0 ? 1 : 0,
            placement,
            devices.Any(d => d.Assigned != d.Serving),
            []);

    public static UnitRange R(int start, int end) => new(start, end);
}
