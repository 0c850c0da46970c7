using System.Collections.Immutable;
using ActorLlm.Protocol;

namespace ActorLlm.Cluster.Placement;

/// <summary>
/// Where the rollout of the coordinator's current plan stands (make-before-break). Every new plan gets the next
/// version and starts <see cref="Loading"/>: the devices whose range changed load the new range while the old one
/// stays routable, and each loaded range is routable at once. When the last of them has loaded the rollout is
/// <see cref="Released"/>: in that one step every range the plan does not use is released and the plan's table is
/// published. When a device the plan gives a range to drops out instead (it left, failed or was late), it is
/// <see cref="Interrupted"/>: nothing is released, and a re-plan follows. A plan whose devices all serve their ranges
/// already is released as it starts. Transitions: <see cref="Rollout.Apply"/>.
/// </summary>
public abstract record RolloutState
{
    private RolloutState()
    {
    }

    /// <summary>Before the first plan.</summary>
    public static RolloutState Initial { get; } = new NoPlan();

    /// <summary>The plan's version (the route table's and AssignUnits' plan version); 0 before the first plan.</summary>
    public abstract long Version { get; }

    /// <summary>The plan being rolled out or in place; null before the first.</summary>
    public abstract PlacementPlan? Plan { get; }

    /// <summary>What the route table says of the plan.</summary>
    public PlacementStatus Status => Plan?.Status ?? PlacementStatus.NoPlan;

    /// <summary>True while devices of the plan are still loading (the route table's <c>Loading</c>).</summary>
    public bool IsLoading => this is Loading;

    /// <summary>The range the plan gives <paramref name="device"/>, if any.</summary>
    public UnitRange? Target(DeviceKey device) => Plan?.AssignmentOf(device)?.Range;

    /// <summary>No plan yet: nothing is assigned, nothing is released.</summary>
    public sealed record NoPlan : RolloutState
    {
        public override long Version => 0;

        public override PlacementPlan? Plan => null;
    }

    /// <summary>
    /// Plan <paramref name="Version"/> is rolling out: <paramref name="Waiting"/> (never empty) are the devices of the
    /// plan that have not reported their new range loaded yet; nothing has been released.
    /// </summary>
    /// <param name="Started">When the plan was made; a device still waiting after the load timeout is dropped.</param>
    public sealed record Loading(long Version, PlacementPlan Plan, ImmutableSortedSet<DeviceKey> Waiting, DateTime Started) : RolloutState
    {
        public override long Version { get; } = Version;

        public override PlacementPlan Plan { get; } = Plan;
    }

    /// <summary>
    /// Every device the rollout waited for has loaded its range; the ranges the plan does not use were released and the
    /// plan's table was published in the same step.
    /// </summary>
    public sealed record Released(long Version, PlacementPlan Plan) : RolloutState
    {
        public override long Version { get; } = Version;

        public override PlacementPlan Plan { get; } = Plan;
    }

    /// <summary>
    /// A device the plan gives a range to dropped out (left, failed to load or was late): the old ranges are kept,
    /// nothing was released, and the re-plan that the drop asked for decides what happens next.
    /// </summary>
    public sealed record Interrupted(long Version, PlacementPlan Plan) : RolloutState
    {
        public override long Version { get; } = Version;

        public override PlacementPlan Plan { get; } = Plan;
    }
}
