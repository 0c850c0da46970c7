using ActorLlm.Inference.Execution;
using ActorLlm.Protocol;

namespace ActorLlm.Cluster.Placement;

/// <summary>
/// The cost model of streamed layers, pure. A device serving a range keeps its fixed units (embedding, head) and as
/// many of the first layers as its resident budget holds beside a ring of <see cref="StreamLayout.DefaultRingSlots"/>
/// layer buffers, and streams the rest from host memory for every token: a resident unit costs compute
/// (cost / speed), a streamed one max(compute, bytes / bandwidth), since its copy overlaps the compute of the layers
/// before it. The same <see cref="StreamLayout"/> decides the stage's layout on the worker.
/// </summary>
internal static class StreamingCost
{
    /// <summary>
    /// Bytes a device may serve in a streaming plan: its resident capacity plus its pinnable host memory, less one layer
    /// more than the ring (the ring's slots are on the device, and the resident layers are whole layers, which wastes up
    /// to one layer of the budget). A device that does not stream, or whose resident capacity cannot hold the fixed
    /// units and the ring, serves only what it holds resident.
    /// </summary>
    public static long Capacity(UnitTable units, DevicePlanInput device, long residentCapacity)
    {
        ArgumentNullException.ThrowIfNull(units);
        ArgumentNullException.ThrowIfNull(device);
        long layer = MaxLayerBytes(units);
        long reserve = (StreamLayout.DefaultRingSlots + 1) * layer;
        long fixedBytes = units.Bytes(0, 1) + units.Bytes(units.Count - 1, units.Count);
        if (!device.CanStream || residentCapacity < fixedBytes + reserve)
        {
            return residentCapacity;
        }

        return Math.Max(residentCapacity, residentCapacity + device.PinnableBytes - reserve);
    }

    /// <summary>Layers of <paramref name="range"/> streamed by a device with <paramref name="residentCapacity"/> bytes of its own.</summary>
    public static int StreamedLayers(UnitTable units, UnitRange range, long residentCapacity)
    {
        ArgumentNullException.ThrowIfNull(units);
        var (layers, fixedBytes) = Split(units, range);
        return StreamLayout.StreamedLayers(layers, fixedBytes, residentCapacity);
    }

    /// <summary>Seconds per token <paramref name="device"/> spends on <paramref name="range"/>.</summary>
    public static double Seconds(UnitTable units, DevicePlanInput device, UnitRange range, long residentCapacity)
    {
        ArgumentNullException.ThrowIfNull(units);
        ArgumentNullException.ThrowIfNull(device);
        int streamed = device.CanStream ? StreamedLayers(units, range, residentCapacity) : 0;
        int lastLayer = Math.Min(range.End, units.Count - 1) - 1;
        double seconds = 0;
        for (int u = range.Start; u < range.End; u++)
        {
            double compute = units.Cost(u, u + 1) / device.Speed;
            bool isStreamed = u > lastLayer - streamed && u <= lastLayer;
            seconds += isStreamed ? Math.Max(compute, units.Bytes(u, u + 1) / device.HostToDeviceBytesPerSecond) : compute;
        }

        return seconds;
    }

    /// <summary>Bytes of the largest decoder layer.</summary>
    public static long MaxLayerBytes(UnitTable units)
    {
        ArgumentNullException.ThrowIfNull(units);
        long largest = 0;
        for (int u = 1; u < units.Count - 1; u++)
        {
            largest = Math.Max(largest, units.Bytes(u, u + 1));
        }

        return largest;
    }

    private static (long[] Layers, long Fixed) Split(UnitTable units, UnitRange range)
    {
        var layers = new List<long>();
        long fixedBytes = 0;
        for (int u = range.Start; u < range.End; u++)
        {
            long bytes = units.Bytes(u, u + 1);
            if (u == 0 || u == units.Count - 1)
            {
                fixedBytes += bytes;
            }
            else
            {
                layers.Add(bytes);
            }
        }

        return ([.. layers], fixedBytes);
    }
}
