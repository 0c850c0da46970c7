using ActorLlm.Protocol;

namespace ActorLlm.Cluster.Placement;

/// <summary>What happens to a rollout: the input of <see cref="Rollout.Apply"/>.</summary>
public abstract record RolloutEvent
{
    private RolloutEvent()
    {
    }

    /// <summary>The planner made <paramref name="Plan"/> at <paramref name="Now"/> (on a re-plan).</summary>
    public sealed record PlanMade(PlacementPlan Plan, DateTime Now) : RolloutEvent;

    /// <summary>A registered device reports <paramref name="Range"/> loaded for plan <paramref name="Version"/>.</summary>
    public sealed record UnitsLoaded(DeviceKey Device, long Version, UnitRange Range) : RolloutEvent;

    /// <summary>A registered device reports that it could not load <paramref name="Range"/> for plan <paramref name="Version"/>.</summary>
    public sealed record UnitsLoadFailed(DeviceKey Device, long Version, UnitRange Range, string Reason) : RolloutEvent;

    /// <summary>Devices left the pool (their worker stopped, their node was removed); already forgotten by the registry.</summary>
    public sealed record DevicesLeft(IReadOnlyList<DeviceKey> Devices) : RolloutEvent;

    /// <summary>The periodic resend tick: resend what is still loading, or drop the devices later than <paramref name="LoadTimeout"/>.</summary>
    public sealed record ResendDue(DateTime Now, TimeSpan LoadTimeout) : RolloutEvent;
}
