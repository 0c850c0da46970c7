using ActorLlm.Protocol;

namespace ActorLlm.Cluster.Placement;

/// <summary>
/// Prefix sums over the model's units, so the bytes and cost of any range are O(1). A boundary <c>b</c> is the
/// position before unit <c>b</c>; ranges are <c>[start, end)</c> between boundaries.
/// </summary>
internal sealed class UnitTable
{
    private readonly long[] _bytesBefore;
    private readonly double[] _costBefore;

    public UnitTable(IReadOnlyList<UnitPlanInput> units)
    {
        Count = units.Count;
        _bytesBefore = new long[Count + 1];
        _costBefore = new double[Count + 1];
        for (int i = 0; i < Count; i++)
        {
            _bytesBefore[i + 1] = _bytesBefore[i] + units[i].Bytes;
            _costBefore[i + 1] = _costBefore[i] + units[i].Cost;
            MaxUnitBytes = Math.Max(MaxUnitBytes, units[i].Bytes);
        }
    }

    public int Count { get; }

    public int Layers => Count - 2;

    public long TotalBytes => _bytesBefore[Count];

    public long MaxUnitBytes { get; }

    public long Bytes(int start, int end) => _bytesBefore[end] - _bytesBefore[start];

    public long Bytes(UnitRange range) => Bytes(range.Start, range.End);

    public double Cost(int start, int end) => _costBefore[end] - _costBefore[start];

    public double Cost(UnitRange range) => Cost(range.Start, range.End);

    public double CostBefore(int boundary) => _costBefore[boundary];

    /// <summary>The furthest boundary in <c>[start, limit]</c> such that <c>[start, end)</c> fits in <paramref name="capacity"/>.</summary>
    public int ReachForward(int start, int limit, long capacity)
    {
        int end = start;
        while (end < limit && Bytes(start, end + 1) <= capacity)
        {
            end++;
        }

        return end;
    }

    /// <summary>The earliest boundary in <c>[limit, end]</c> such that <c>[start, end)</c> fits in <paramref name="capacity"/>.</summary>
    public int ReachBackward(int end, int limit, long capacity)
    {
        int start = end;
        while (start > limit && Bytes(start - 1, end) <= capacity)
        {
            start--;
        }

        return start;
    }

    /// <summary>The boundary in <c>[low, high]</c> whose cumulative cost is nearest <paramref name="cumulativeCost"/> (earliest on a tie).</summary>
    public int NearestBoundary(double cumulativeCost, int low, int high)
    {
        int best = low;
        for (int b = low + 1; b <= high; b++)
        {
            if (Math.Abs(_costBefore[b] - cumulativeCost) < Math.Abs(_costBefore[best] - cumulativeCost))
            {
                best = b;
            }
        }

        return best;
    }

    public string Name(UnitRange range) => range.Describe(Layers);
}
