namespace ActorLlm.Protocol;

/// <summary>How well the pool's placement meets what was asked.</summary>
public enum PlacementStatus
{
    /// <summary>No plan yet: no device has registered, or none could be planned.</summary>
    NoPlan,

    /// <summary>Every unit is served by the requested number of replicas.</summary>
    Complete,

    /// <summary>Every unit is served, but some by fewer replicas than requested.</summary>
    Degraded,

    /// <summary>Some unit is served by no device: the pool cannot run the model.</summary>
    Insufficient,
}

/// <summary>Questions about a <see cref="PlacementStatus"/>.</summary>
public static class PlacementStatuses
{
    /// <summary>Every unit has at least one device planned for it (Complete or Degraded).</summary>
    public static bool CoversModel(this PlacementStatus status) => status is PlacementStatus.Complete or PlacementStatus.Degraded;

    /// <summary>For people: "Complete", "Degraded, loading", "no plan yet".</summary>
    public static string Describe(PlacementStatus status, bool loading) => status switch
    {
        PlacementStatus.NoPlan => "no plan yet",
        _ => loading ? $"{status}, loading" : status.ToString(),
    };
}
