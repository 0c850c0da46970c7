namespace ActorLlm.Cluster.Placement;

/// <summary>
/// What the planner knows about one unit of the model (see <see cref="ActorLlm.Protocol.UnitRange"/> for the numbering).
/// </summary>
/// <param name="Index">The unit's index; a model's units are passed in order, 0 = begin, L+1 = end.</param>
/// <param name="Bytes">Weight bytes the unit occupies on a device.</param>
/// <param name="Cost">Relative compute cost per token (a decoder layer is 1.0); must be finite and positive.</param>
public sealed record UnitPlanInput(int Index, long Bytes, double Cost)
{
    /// <summary>
    /// The units of a decoder-only model: begin, <c>unitBytes.Count - 2</c> layers, end. A layer costs 1.0.
    /// The LM head multiplies by a vocab x hidden matrix, so end costs that many parameters relative to a
    /// layer's. The embedding is a row lookup, so begin costs one row (hidden) relative to a layer's parameters.
    /// </summary>
    /// <param name="unitBytes">Weight bytes per unit, begin first and end last.</param>
    /// <param name="vocabSize">Rows of the LM head.</param>
    /// <param name="hiddenSize">Model width.</param>
    /// <param name="paramsPerLayer">Parameters of one decoder layer.</param>
    public static IReadOnlyList<UnitPlanInput> ForModel(IReadOnlyList<long> unitBytes, long vocabSize, long hiddenSize, long paramsPerLayer)
    {
        ArgumentNullException.ThrowIfNull(unitBytes);
        if (unitBytes.Count < 2)
        {
            throw new ArgumentException($"a model has at least a begin and an end unit, got {unitBytes.Count} unit size(s)", nameof(unitBytes));
        }

        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(vocabSize);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(hiddenSize);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(paramsPerLayer);

        double beginCost = (double)hiddenSize / paramsPerLayer;
        double endCost = (double)vocabSize * hiddenSize / paramsPerLayer;
        int last = unitBytes.Count - 1;
        var units = new UnitPlanInput[unitBytes.Count];
        for (int i = 0; i < units.Length; i++)
        {
            double cost = i == 0 ? beginCost : i == last ? endCost : 1.0;
            units[i] = new UnitPlanInput(i, unitBytes[i], cost);
        }

        return units;
    }
}
