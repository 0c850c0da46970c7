namespace ActorLlm.Cluster.Placement;

/// <summary>Tuning of <see cref="Planner"/>.</summary>
public sealed record PlannerOptions
{
    public static PlannerOptions Default { get; } = new();

    /// <summary>
    /// Fraction of a device's memory that weights may fill, in (0, 1]. The default 0.9 leaves the rest
    /// for the KV cache and activations, which the worker allocates after loading.
    /// </summary>
    public double MemoryHeadroom { get; init; } = 0.9;
}
