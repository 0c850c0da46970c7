using ActorLlm.Cluster.Placement;
using ActorLlm.Protocol;
using FsCheck;
using FsCheck.Fluent;

namespace ActorLlm.Cluster.Tests.Placement;

/// <summary>One thing that happens to the pool (see <see cref="RolloutWorld.Play(PoolEvent)"/>).</summary>
public sealed record PoolEvent(PoolEventKind Kind, int Arg)
{
    public override string ToString() => $"{Kind}({Arg})";
}

public enum PoolEventKind
{
    /// <summary>Device Arg registers: a new one serving nothing, a known one again (which ends its failure).</summary>
    Join,

    /// <summary>Device Arg leaves (its worker stopped).</summary>
    Leave,

    /// <summary>The re-plan timer fires.</summary>
    Replan,

    /// <summary>One of the assignments sent and not answered yet (picked by Arg) is reported loaded.</summary>
    Load,

    /// <summary>The same, reported failed.</summary>
    Fail,

    /// <summary>Arg % 13 minutes pass and the resend tick fires (the load timeout is 10 minutes).</summary>
    Tick,

    /// <summary>The failed cooldown ends: every failed device may be planned again.</summary>
    Cooldown,
}

/// <summary>A pool and what happens to it.</summary>
public sealed record RolloutScenario(Pool Pool, IReadOnlyList<PoolEvent> Events)
{
    public override string ToString() => $"{Pool}\nevents: {string.Join(", ", Events)}";
}

/// <summary>
/// The coordinator around <see cref="Rollout"/>, as plain data: a registry of what each device serves, the devices
/// that failed, the assignments sent and not answered, and a clock. Commands are carried out as the actor does.
/// </summary>
internal sealed class RolloutWorld(Pool pool)
{
    public static readonly TimeSpan LoadTimeout = TimeSpan.FromMinutes(10);

    private readonly List<RolloutCommand.Assign> _outstanding = [];

    public Dictionary<DeviceKey, HashSet<UnitRange>> Serving { get; } = [];

    public HashSet<DeviceKey> Failed { get; } = [];

    public RolloutState State { get; private set; } = RolloutState.Initial;

    public DateTime Now { get; private set; } = new(2026, 12, 1, 0, 0, 0, DateTimeKind.Utc);

    public int Outstanding => _outstanding.Count;

    /// <summary>A step or a registration asked for a re-plan (the actor's re-plan timer), and none has run since.</summary>
    public bool ReplanDue { get; private set; }

    /// <summary>The event the last step was taken for.</summary>
    public RolloutEvent? LastEvent { get; private set; }

    public static Arbitrary<RolloutScenario> Scenarios() =>
        (from pool in PlanGen.PoolGen(ample: false)
         from count in Gen.Choose(5, 60)
         from events in Gen.Zip(Gen.Choose(0, 15), Gen.Choose(0, 1000)).ListOf(count)
         select new RolloutScenario(pool, [.. events.Select(e => new PoolEvent(KindOf(e.Item1), e.Item2))])).ToArbitrary();

    /// <summary>Every (device, range) served now.</summary>
    public HashSet<(DeviceKey Device, UnitRange Range)> Served() => [.. Serving.SelectMany(p => p.Value.Select(r => (p.Key, r)))];

    /// <summary>The units some device serves now.</summary>
    public HashSet<int> Covered() => [.. Serving.Values.SelectMany(rs => rs).SelectMany(r => Enumerable.Range(r.Start, r.Count))];

    /// <summary>Plays one event; null when it cannot happen now (no such device, nothing outstanding) and changed nothing.</summary>
    public RolloutStep? Play(PoolEvent e)
    {
        var device = pool.Devices[e.Arg % pool.Devices.Count].Id;
        switch (e.Kind)
        {
            case PoolEventKind.Join:
                // A registration that changes something (a new device, a failed one back) schedules a re-plan.
                ReplanDue |= Serving.TryAdd(device, []) | Failed.Remove(device);
                return null;
            case PoolEventKind.Leave when Serving.Remove(device):
                Failed.Remove(device);
                _outstanding.RemoveAll(a => a.Device == device);
                return Apply(new RolloutEvent.DevicesLeft([device]));
            case PoolEventKind.Replan:
                return Replan();
            case PoolEventKind.Load or PoolEventKind.Fail when _outstanding.Count > 0:
                var a = _outstanding[e.Arg % _outstanding.Count];
                _outstanding.Remove(a);
                return Apply(e.Kind == PoolEventKind.Load
                    ? new RolloutEvent.UnitsLoaded(a.Device, a.Version, a.Range)
                    : new RolloutEvent.UnitsLoadFailed(a.Device, a.Version, a.Range, "disk full"));
            case PoolEventKind.Tick:
                return Tick(TimeSpan.FromMinutes(e.Arg % 13));
            case PoolEventKind.Cooldown:
                Failed.Clear();
                return null;
            default:
                return null;
        }
    }

    public RolloutStep Replan()
    {
        ReplanDue = false;
        var devices = pool.Devices.Where(d => Serving.ContainsKey(d.Id) && !Failed.Contains(d.Id)).ToList();
        return Apply(new RolloutEvent.PlanMade(Planner.Plan(devices, pool.Units, pool.Redundancy, State.Plan), Now));
    }

    public RolloutStep Tick(TimeSpan passed)
    {
        Now += passed;
        return Apply(new RolloutEvent.ResendDue(Now, LoadTimeout));
    }

    /// <summary>Every assignment sent and not answered is reported loaded, oldest first.</summary>
    public void LoadEverything()
    {
        while (_outstanding.Count > 0)
        {
            var a = _outstanding[0];
            _outstanding.RemoveAt(0);
            Apply(new RolloutEvent.UnitsLoaded(a.Device, a.Version, a.Range));
        }
    }

    private RolloutStep Apply(RolloutEvent e)
    {
        var step = Rollout.Apply(State, e, Serving.ToDictionary(p => p.Key, p => (IReadOnlySet<UnitRange>)p.Value.ToHashSet()));
        State = step.State;
        LastEvent = e;
        foreach (var command in step.Commands)
        {
            switch (command)
            {
                case RolloutCommand.Assign a when Serving.ContainsKey(a.Device) && !_outstanding.Contains(a):
                    _outstanding.Add(a);
                    break;
                case RolloutCommand.Serve s when Serving.TryGetValue(s.Device, out var ranges):
                    ranges.Add(s.Range);
                    break;
                case RolloutCommand.StopServing s when Serving.TryGetValue(s.Device, out var ranges):
                    ranges.Remove(s.Range);
                    break;
                case RolloutCommand.MarkFailed f when Serving.ContainsKey(f.Device):
                    Failed.Add(f.Device);
                    break;
                case RolloutCommand.ReplanNow:
                    ReplanDue = true;
                    break;
            }
        }

        return step;
    }

    private static PoolEventKind KindOf(int roll) => roll switch
    {
        <= 2 => PoolEventKind.Join,
        3 => PoolEventKind.Leave,
        <= 5 => PoolEventKind.Replan,
        <= 11 => PoolEventKind.Load,
        12 => PoolEventKind.Fail,
        <= 14 => PoolEventKind.Tick,
        _ => PoolEventKind.Cooldown,
    };
}
