namespace ActorLlm.Cluster.Placement;

/// <summary>How well a <see cref="PlacementPlan"/> meets what was asked.</summary>
public enum PlanStatus
{
    /// <summary>Every unit is served by the requested number of replicas.</summary>
    Complete,

    /// <summary>Every unit is served, but some by fewer replicas than requested.</summary>
    Degraded,

    /// <summary>Some unit is served by no device: the pool cannot run the model.</summary>
    Insufficient,
}
