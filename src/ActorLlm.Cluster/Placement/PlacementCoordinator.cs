using ActorLlm.Protocol.Messages;
using ActorLlm.Cluster.Hosting;
using ActorLlm.Inference.Checkpoints;
using ActorLlm.Protocol;
using Akka.Actor;

namespace ActorLlm.Cluster.Placement;

/// <summary>What the coordinator plans over: the model's identity and its units' sizes and costs.</summary>
public sealed record ModelUnits(ModelId ModelId, int Layers, IReadOnlyList<UnitPlanInput> Units)
{
    public int UnitCount => Units.Count;

    /// <summary>From a model's description (a unit store or Hugging Face directory opened with Checkpoint.Open).</summary>
    public static ModelUnits From(ModelId modelId, ModelInfo info)
    {
        long perLayer = info.Units.Count > 2 ? info.Units[1].Parameters : 1;
        return new ModelUnits(
            modelId,
            info.Config.NumLayers,
            UnitPlanInput.ForModel([.. info.Units.Select(u => u.TensorBytes)], info.Config.VocabSize, info.Config.HiddenSize, Math.Max(1, perLayer)));
    }
}

/// <summary>
/// The cluster singleton that decides which device serves which units. Devices register (PlacementMessages.RegisterDevice);
/// on every join, leave, unreachable and failed load it re-plans with the pure <see cref="Planner"/> (moving as few
/// units as possible) and sends AssignUnits to the devices whose range changes. Each range is published in the
/// versioned route table as soon as it is loaded, beside the old ones; once all of them have loaded, the ranges no
/// longer used are released and the plan's own table is published (make-before-break, <see cref="Rollout"/>).
/// Answers PlacementMessages.GetRoutes and StatusMessages.GetClusterStatus.
/// </summary>
public static class PlacementCoordinator
{
    /// <summary>Name of the singleton (and its proxy) under /user.</summary>
    public const string SingletonName = "placement";

    /// <summary>Distributed pub-sub topic the route tables are published on.</summary>
    public const string RoutesTopic = "actorllm-routes";

    /// <param name="localUnitServer">The coordinator node's UnitServer: a source of every unit when that node has the store.</param>
    /// <param name="localUnits">Units whose files the coordinator's node holds.</param>
    /// <param name="mediator">Where route tables are published (the distributed pub-sub mediator).</param>
    /// <param name="certifiedTrust">The trust a node's certificate gives it (null: unknown); a device's declared trust is
    /// lowered to it (<see cref="EffectiveTrust"/>). Null in a plain-TCP pool.</param>
    public static Props Props(ModelUnits model, PlacementSettings settings, IActorRef localUnitServer, IReadOnlyCollection<int> localUnits, IActorRef mediator,
        Func<NodeAddress, DeviceTrust?>? certifiedTrust = null) =>
        Akka.Actor.Props.Create(() => new Internal.PlacementCoordinatorActor(model, settings, localUnitServer, localUnits, mediator, certifiedTrust));

    /// <summary>
    /// What a device is trusted as: the lower of what it declares and what its node's certificate says (a volunteer
    /// cannot declare itself trusted; a trusted node may choose to be treated as a volunteer).
    /// </summary>
    public static DeviceTrust EffectiveTrust(DeviceTrust declared, DeviceTrust? certified) =>
        certified == DeviceTrust.Volunteer || declared == DeviceTrust.Volunteer ? DeviceTrust.Volunteer : DeviceTrust.Trusted;

    /// <summary>Tests and status: the plan being rolled out and the current route version. Local only.</summary>
    public sealed record GetPlan
    {
        public static GetPlan Instance { get; } = new();
    }

    /// <summary>Reply to <see cref="GetPlan"/>.</summary>
    public sealed record PlanState(PlacementPlan? Plan, long PlanVersion, bool RolloutComplete, long RouteVersion);
}
