using ActorLlm.Protocol;
using ActorLlm.Protocol.Messages;
using Akka.Actor;

namespace ActorLlm.Cluster.Placement.Internal;

/// <summary>One registered device as the coordinator knows it.</summary>
internal sealed class RegisteredDevice(DeviceDescriptor descriptor, IActorRef worker, IActorRef unitServer)
{
    public DeviceDescriptor Descriptor { get; set; } = descriptor;

    public IActorRef Worker { get; set; } = worker;

    public IActorRef UnitServer { get; set; } = unitServer;

    public DeviceKey Key => Descriptor.Key;

    public HashSet<int> LocalUnits { get; } = [];

    /// <summary>Ranges loaded and not released: what routes may use.</summary>
    public HashSet<UnitRange> Serving { get; } = [];

    public bool Reachable { get; set; } = true;

    /// <summary>Set when a load failed or timed out; the device sits out of plans until it registers again or the failed cooldown ends.</summary>
    public string? FailedReason { get; set; }

    /// <summary>Set when verification caught the device computing wrong results: it gets no work again (until the coordinator restarts).</summary>
    public string? Quarantined { get; set; }

    public int ActiveSessions { get; set; }

    public int Queued { get; set; }

    public double TokensPerSecond { get; set; }

    public bool Plannable => Reachable && FailedReason is null && Quarantined is null;

    public DevicePlanInput PlanInput =>
        new(Key, Descriptor.Machine, Descriptor.MemoryBytes, Descriptor.Speed, Descriptor.PinnableBytes, Descriptor.HostToDeviceBytesPerSecond, Descriptor.Volunteer);

    /// <param name="streamed">Layers of a range this device streams (see <see cref="StreamingCost"/>).</param>
    public RouteCandidate RouteCandidate(Func<UnitRange, int> streamed) => new(Worker, Descriptor, Reachable, Serving, ActiveSessions, streamed);
}

/// <summary>The devices registered with the coordinator, by key.</summary>
internal sealed class DeviceRegistry
{
    private readonly Dictionary<DeviceKey, RegisteredDevice> _devices = [];

    public IEnumerable<RegisteredDevice> All => _devices.Values.OrderBy(d => d.Key);

    public RegisteredDevice? Find(DeviceKey key) => _devices.GetValueOrDefault(key);

    /// <summary>What each registered device serves, by key: the rollout's view of the registry.</summary>
    public IReadOnlyDictionary<DeviceKey, IReadOnlySet<UnitRange>> Serving() =>
        _devices.ToDictionary(p => p.Key, p => (IReadOnlySet<UnitRange>)p.Value.Serving);

    public RegisteredDevice? FindByWorker(IActorRef worker) => _devices.Values.FirstOrDefault(d => d.Worker.Equals(worker));

    /// <summary>Adds or refreshes a registration. Returns true when the device is new or changed in a way that matters to placement.</summary>
    public bool Register(PlacementMessages.RegisterDevice r)
    {
        var key = r.Device.Key;
        bool changed = false;
        if (!_devices.TryGetValue(key, out var device))
        {
            device = new RegisteredDevice(r.Device, r.Worker, r.UnitServer);
            _devices[key] = device;
            changed = true;
        }
        else
        {
            // A worker that restarted registers again without the ranges it served: they must be assigned again.
            changed = device.Descriptor != r.Device || !device.Worker.Equals(r.Worker) || device.FailedReason is not null || !device.Serving.IsSubsetOf(r.Serving);
            device.Descriptor = r.Device;
            device.Worker = r.Worker;
            device.UnitServer = r.UnitServer;
            device.FailedReason = null;
        }

        device.LocalUnits.Clear();
        device.LocalUnits.UnionWith(r.LocalUnits);
        device.Serving.Clear();
        device.Serving.UnionWith(r.Serving);
        return changed;
    }

    public bool Remove(DeviceKey key) => _devices.Remove(key);

    /// <summary>Marks every device of <paramref name="node"/> reachable or not; returns those that changed.</summary>
    public IReadOnlyList<RegisteredDevice> SetReachable(NodeAddress node, bool reachable)
    {
        var changed = _devices.Values.Where(d => d.Descriptor.Node == node && d.Reachable != reachable).ToList();
        changed.ForEach(d => d.Reachable = reachable);
        return changed;
    }

    public IReadOnlyList<DeviceKey> OnNode(NodeAddress node) => _devices.Values.Where(d => d.Descriptor.Node == node).Select(d => d.Key).ToList();

    /// <summary>
    /// Where each unit of <paramref name="range"/> can be pulled from: the unit servers (on reachable nodes) that hold
    /// its file, and <paramref name="localServer"/> for the units in <paramref name="localUnits"/>.
    /// </summary>
    public PlacementMessages.UnitSource[] Sources(UnitRange range, IActorRef localServer, IReadOnlyCollection<int> localUnits) =>
        [.. Enumerable.Range(range.Start, range.Count).Select(u => new PlacementMessages.UnitSource(u, [.. Holders(u, localServer, localUnits)]))];

    private IEnumerable<IActorRef> Holders(int unit, IActorRef localServer, IReadOnlyCollection<int> localUnits)
    {
        var holders = _devices.Values.Where(d => d.Reachable && d.LocalUnits.Contains(unit)).Select(d => d.UnitServer).Distinct().ToList();
        if (localUnits.Contains(unit) && !holders.Contains(localServer))
        {
            holders.Add(localServer);
        }

        return holders;
    }
}
