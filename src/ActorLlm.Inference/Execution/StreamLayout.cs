namespace ActorLlm.Inference.Execution;

/// <summary>
/// Which decoder layers of a stage stay on its device and which are streamed from host memory, for a budget of
/// resident weight bytes. Pure: the planner (which decides) and the stage (which follows) compute the same thing.
/// </summary>
/// <remarks>
/// The fixed units (embedding, final norm and LM head) are always resident. When the whole range fits the budget
/// nothing streams. Otherwise the stage needs a ring of <see cref="DefaultRingSlots"/> layer-sized device buffers the
/// streamed layers are copied into; what is left of the budget after the fixed units and the ring holds the first
/// layers of the range, in order, and the rest are streamed. A budget smaller than the fixed units plus the ring
/// streams every layer (the ring is the least a streamed stage needs: <see cref="DeviceBytes"/> says how much).
/// </remarks>
public static class StreamLayout
{
    /// <summary>Layer-sized device buffers of a streamed stage: one being computed while the next is copied in.</summary>
    public const int DefaultRingSlots = 2;

    /// <summary>
    /// How many of the range's layers (the last ones) are streamed, given each layer's bytes in order, the bytes of the
    /// range's fixed units and the resident budget.
    /// </summary>
    public static int StreamedLayers(IReadOnlyList<long> layerBytes, long fixedBytes, long residentBudget, int ringSlots = DefaultRingSlots)
    {
        ArgumentNullException.ThrowIfNull(layerBytes);
        ArgumentOutOfRangeException.ThrowIfNegative(fixedBytes);
        ArgumentOutOfRangeException.ThrowIfLessThan(ringSlots, 1);
        long total = fixedBytes + layerBytes.Sum();
        if (total <= residentBudget || layerBytes.Count == 0)
        {
            return 0;
        }

        long ring = RingBytes(layerBytes, layerBytes.Count, ringSlots);
        long left = residentBudget - fixedBytes - ring;
        int resident = 0;
        while (resident < layerBytes.Count && left >= layerBytes[resident])
        {
            left -= layerBytes[resident];
            resident++;
        }

        return layerBytes.Count - resident;
    }

    /// <summary>Slots of the ring for <paramref name="streamed"/> streamed layers: no more than there are layers.</summary>
    public static int RingSlotsFor(int streamed, int ringSlots = DefaultRingSlots) => Math.Min(streamed, ringSlots);

    /// <summary>Device bytes of the ring: its slots, each as large as the largest of the last <paramref name="streamed"/> layers.</summary>
    public static long RingBytes(IReadOnlyList<long> layerBytes, int streamed, int ringSlots = DefaultRingSlots)
    {
        ArgumentNullException.ThrowIfNull(layerBytes);
        if (streamed <= 0)
        {
            return 0;
        }

        long largest = layerBytes.Skip(layerBytes.Count - streamed).Max();
        return largest * RingSlotsFor(streamed, ringSlots);
    }

    /// <summary>Device weight bytes of a stage with the last <paramref name="streamed"/> layers streamed: fixed units, resident layers, ring.</summary>
    public static long DeviceBytes(IReadOnlyList<long> layerBytes, long fixedBytes, int streamed, int ringSlots = DefaultRingSlots)
    {
        ArgumentNullException.ThrowIfNull(layerBytes);
        return fixedBytes + layerBytes.Take(layerBytes.Count - streamed).Sum() + RingBytes(layerBytes, streamed, ringSlots);
    }

    /// <summary>Host bytes the streamed layers occupy (pinned on CUDA).</summary>
    public static long HostBytes(IReadOnlyList<long> layerBytes, int streamed)
    {
        ArgumentNullException.ThrowIfNull(layerBytes);
        return layerBytes.Skip(layerBytes.Count - streamed).Sum();
    }
}
