using ActorLlm.Protocol;

namespace ActorLlm.Cluster.Placement;

/// <summary>A rollout step: the state after an event and what the coordinator must do about it, in order.</summary>
public sealed record RolloutStep(RolloutState State, IReadOnlyList<RolloutCommand> Commands)
{
    /// <summary>The event changes nothing and asks for nothing.</summary>
    public static RolloutStep Unchanged(RolloutState state) => new(state, []);
}

/// <summary>
/// The rollout of placement plans as a pure state machine (states: <see cref="RolloutState"/>). Make-before-break:
/// a range a device serves stays routable until the rollout of the plan that no longer uses it is complete, so
/// until then the served ranges cover what the previous plan covered (less the devices that left).
/// </summary>
public static class Rollout
{
    /// <summary>
    /// The step <paramref name="e"/> makes from <paramref name="state"/>. <paramref name="serving"/> is what each
    /// registered device serves before the event (a device that is not a key is not registered).
    /// </summary>
    public static RolloutStep Apply(RolloutState state, RolloutEvent e, IReadOnlyDictionary<DeviceKey, IReadOnlySet<UnitRange>> serving) => e switch
    {
        RolloutEvent.PlanMade p => Start(state, p.Plan, p.Now, serving),
        RolloutEvent.UnitsLoaded l => Loaded(state, l.Device, l.Version, l.Range, serving),
        RolloutEvent.UnitsLoadFailed f => LoadFailed(state, f),
        RolloutEvent.DevicesLeft d => Left(state, d.Devices),
        RolloutEvent.ResendDue t => Resend(state, t.Now, t.LoadTimeout),
        _ => throw new ArgumentOutOfRangeException(nameof(e), e, "unknown rollout event"),
    };

    /// <summary>
    /// A load reported for another plan than the current one, of a range the current plan does not give the device,
    /// while no rollout waits on the device (the plan is in place or interrupted, or gives the device nothing):
    /// nothing will ever route there, so it is released at once rather than served.
    /// </summary>
    public static bool IsSuperseded(RolloutState state, DeviceKey device, long version, UnitRange range) =>
        state.Plan is not null
        && state.Version != version
        && state.Target(device) != range
        && (!state.IsLoading || state.Target(device) is null);

    private static RolloutStep Start(RolloutState state, PlacementPlan plan, DateTime now, IReadOnlyDictionary<DeviceKey, IReadOnlySet<UnitRange>> serving)
    {
        // The same plan needs no new rollout only while its rollout is complete and every device still serves its
        // range (a device that registered again without its range does not).
        if (plan.Equals(state.Plan) && !state.IsLoading && plan.Assignments.All(a => Serves(serving, a.Device, a.Range)))
        {
            return RolloutStep.Unchanged(state);
        }

        long version = state.Version + 1;
        var expected = plan.Assignments.Where(a => !Serves(serving, a.Device, a.Range)).ToList();
        var commands = new List<RolloutCommand> { new RolloutCommand.ReportPlan(version, plan) };
        commands.AddRange(expected.Select(a => new RolloutCommand.Assign(a.Device, version, a.Range)));
        RolloutState next = expected.Count == 0
            ? Finish(version, plan, serving, commands)
            : new RolloutState.Loading(version, plan, [.. expected.Select(a => a.Device)], now);

        // The table's status follows the rollout from the moment it starts (the new plan's status, loading).
        commands.Add(new RolloutCommand.PublishRoutes());
        return new RolloutStep(next, commands);
    }

    private static RolloutStep Loaded(RolloutState state, DeviceKey device, long version, UnitRange range, IReadOnlyDictionary<DeviceKey, IReadOnlySet<UnitRange>> serving)
    {
        if (IsSuperseded(state, device, version, range))
        {
            return new RolloutStep(state, [new RolloutCommand.Release(device, state.Version, range)]);
        }

        // Any other load is routable at once, even one of an older plan: make-before-break releases it with the rest
        // once the current rollout is complete.
        var commands = new List<RolloutCommand> { new RolloutCommand.Serve(device, range) };
        var next = state;
        if (state is RolloutState.Loading loading && loading.Version == version && loading.Target(device) == range && loading.Waiting.Contains(device))
        {
            var waiting = loading.Waiting.Remove(device);
            commands.Add(new RolloutCommand.ReportLoaded(device, version, range, waiting.Count));
            next = waiting.IsEmpty
                ? Finish(loading.Version, loading.Plan, WithServed(serving, device, range), commands)
                : loading with { Waiting = waiting };
        }

        commands.Add(new RolloutCommand.PublishRoutes());
        return new RolloutStep(next, commands);
    }

    private static RolloutStep LoadFailed(RolloutState state, RolloutEvent.UnitsLoadFailed f)
    {
        // Only a failure of the current plan counts: an older plan's assignment is not wanted any more.
        if (state.Plan is null || state.Version != f.Version)
        {
            return RolloutStep.Unchanged(state);
        }

        return new RolloutStep(Drop(state, [f.Device]),
        [
            new RolloutCommand.ReportLoadFailed(f.Device, f.Range, f.Reason),
            new RolloutCommand.MarkFailed(f.Device, f.Reason),
            new RolloutCommand.ReplanNow(),
            new RolloutCommand.StartFailedCooldown(),
        ]);
    }

    private static RolloutStep Left(RolloutState state, IReadOnlyList<DeviceKey> devices) =>
        devices.Count == 0
            ? RolloutStep.Unchanged(state)
            : new RolloutStep(Drop(state, devices), [new RolloutCommand.PublishRoutes(), new RolloutCommand.ReplanNow()]);

    private static RolloutStep Resend(RolloutState state, DateTime now, TimeSpan loadTimeout)
    {
        if (state is not RolloutState.Loading loading)
        {
            return RolloutStep.Unchanged(state);
        }

        var waiting = loading.Plan.Assignments.Where(a => loading.Waiting.Contains(a.Device)).ToList();
        if (now - loading.Started > loadTimeout)
        {
            var late = waiting.Select(a => (RolloutCommand)new RolloutCommand.MarkFailed(a.Device, $"did not load its range within {loadTimeout}"));
            return new RolloutStep(Drop(loading, loading.Waiting), [.. late, new RolloutCommand.ReplanNow()]);
        }

        // AssignUnits is resent until answered (a message lost, a worker that restarted); a worker answers a repeat again.
        return new RolloutStep(loading, [.. waiting.Select(a => new RolloutCommand.Assign(a.Device, loading.Version, a.Range))]);
    }

    /// <summary>
    /// Devices dropped out (left, failed to load, late). One the plan gives a range to interrupts the rollout: the plan
    /// can no longer be in place as a whole, and completing it would release old ranges that may be all that covers
    /// the dropped device's units; nothing is released and the re-plan the drop asks for takes over. A device the plan
    /// gives nothing (a spare) changes nothing.
    /// </summary>
    private static RolloutState Drop(RolloutState state, IEnumerable<DeviceKey> devices)
    {
        if (state is not RolloutState.Loading loading)
        {
            return state;
        }

        return devices.Any(d => loading.Plan.AssignmentOf(d) is not null)
            ? new RolloutState.Interrupted(loading.Version, loading.Plan)
            : loading;
    }

    /// <summary>Every device of the plan serves its range: release every range that is not a device's target.</summary>
    private static RolloutState.Released Finish(long version, PlacementPlan plan, IReadOnlyDictionary<DeviceKey, IReadOnlySet<UnitRange>> serving, List<RolloutCommand> commands)
    {
        foreach (var (device, ranges) in serving.OrderBy(p => p.Key))
        {
            var keep = plan.AssignmentOf(device)?.Range;
            foreach (var range in ranges.Where(r => r != keep).ToList())
            {
                commands.Add(new RolloutCommand.Release(device, version, range));
                commands.Add(new RolloutCommand.StopServing(device, range));
            }
        }

        commands.Add(new RolloutCommand.ReportInPlace(version));
        return new RolloutState.Released(version, plan);
    }

    private static bool Serves(IReadOnlyDictionary<DeviceKey, IReadOnlySet<UnitRange>> serving, DeviceKey device, UnitRange range) =>
        serving.TryGetValue(device, out var ranges) && ranges.Contains(range);

    private static Dictionary<DeviceKey, IReadOnlySet<UnitRange>> WithServed(IReadOnlyDictionary<DeviceKey, IReadOnlySet<UnitRange>> serving, DeviceKey device, UnitRange range)
    {
        var copy = serving.ToDictionary(p => p.Key, p => p.Value);
        copy[device] = copy.TryGetValue(device, out var ranges) ? ranges.Append(range).ToHashSet() : new HashSet<UnitRange> { range };
        return copy;
    }
}
