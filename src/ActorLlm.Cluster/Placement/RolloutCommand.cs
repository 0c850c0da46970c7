using ActorLlm.Protocol;

namespace ActorLlm.Cluster.Placement;

/// <summary>
/// What the coordinator carries out after a <see cref="Rollout.Apply"/> step, in order. Commands naming a device the
/// registry no longer knows are skipped.
/// </summary>
public abstract record RolloutCommand
{
    private RolloutCommand()
    {
    }

    /// <summary>Tell the device AssignUnits: load <paramref name="Range"/> for plan <paramref name="Version"/> beside what it serves.</summary>
    public sealed record Assign(DeviceKey Device, long Version, UnitRange Range) : RolloutCommand;

    /// <summary>Tell the device ReleaseUnits: nothing routes to <paramref name="Range"/> any more.</summary>
    public sealed record Release(DeviceKey Device, long Version, UnitRange Range) : RolloutCommand;

    /// <summary>Record that the device serves <paramref name="Range"/>: routes may use it.</summary>
    public sealed record Serve(DeviceKey Device, UnitRange Range) : RolloutCommand;

    /// <summary>Record that the device no longer serves <paramref name="Range"/>: routes stop using it.</summary>
    public sealed record StopServing(DeviceKey Device, UnitRange Range) : RolloutCommand;

    /// <summary>The device sits out of plans, for <paramref name="Reason"/>, until it registers again or the cooldown ends.</summary>
    public sealed record MarkFailed(DeviceKey Device, string Reason) : RolloutCommand;

    /// <summary>Re-plan now (it supersedes a re-plan already scheduled).</summary>
    public sealed record ReplanNow : RolloutCommand;

    /// <summary>(Re)start the cooldown after which failed devices get another chance.</summary>
    public sealed record StartFailedCooldown : RolloutCommand;

    /// <summary>Publish the route table if it changed (the registry or the rollout's status did).</summary>
    public sealed record PublishRoutes : RolloutCommand;

    /// <summary>For people: plan <paramref name="Version"/> starts rolling out.</summary>
    public sealed record ReportPlan(long Version, PlacementPlan Plan) : RolloutCommand;

    /// <summary>For people: a device the rollout waited for serves its range; <paramref name="StillLoading"/> devices to go.</summary>
    public sealed record ReportLoaded(DeviceKey Device, long Version, UnitRange Range, int StillLoading) : RolloutCommand;

    /// <summary>For people: a device of the current plan failed to load <paramref name="Range"/>.</summary>
    public sealed record ReportLoadFailed(DeviceKey Device, UnitRange Range, string Reason) : RolloutCommand;

    /// <summary>For people: plan <paramref name="Version"/> is in place.</summary>
    public sealed record ReportInPlace(long Version) : RolloutCommand;
}
