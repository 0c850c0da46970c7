using ActorLlm.Protocol.Messages;

namespace ActorLlm.Cluster.Placement;

/// <summary>
/// The most a volunteer's device may claim (<c>actorllm.placement.claims</c>): a device's memory and speed come from
/// its own RegisterDevice, so without a bound a volunteer could claim a terabyte and absurd speed and be given the
/// largest or the last stage.
/// </summary>
/// <param name="MaxMemoryBytes">Device memory a volunteer may claim (<c>max-memory</c>).</param>
/// <param name="MaxSpeed">Layer-forwards per second for one token a volunteer may claim (<c>max-speed</c>), as
/// <see cref="DevicePlanInput.Speed"/> counts them.</param>
/// <param name="MaxPinnableBytes">Host memory for streamed layers a volunteer may claim (<c>max-pinnable-memory</c>).</param>
/// <param name="MaxHostToDeviceBytesPerSecond">Host-to-device bandwidth a volunteer may claim (<c>max-host-to-device</c>):
/// what streaming plans with, so an absurd one would draw streamed layers to it.</param>
public sealed record ClaimCaps(long MaxMemoryBytes, double MaxSpeed, long MaxPinnableBytes = ClaimCaps.DefaultMaxPinnableBytes, double MaxHostToDeviceBytesPerSecond = ClaimCaps.DefaultMaxHostToDevice)
{
    /// <summary>reference.conf's <c>max-pinnable-memory</c>: 512 GiB.</summary>
    public const long DefaultMaxPinnableBytes = 512L * 1024 * 1024 * 1024;

    /// <summary>reference.conf's <c>max-host-to-device</c>: 128 GB/s (PCIe 5.0 x16 moves about 64 GB/s each way).</summary>
    public const double DefaultMaxHostToDevice = 128e9;

    /// <summary>The defaults of reference.conf: 192 GiB, 100,000 layer-forwards per second (a 10 µs layer step), 512 GiB pinnable, 128 GB/s.</summary>
    public static ClaimCaps Default { get; } = new(192L * 1024 * 1024 * 1024, 100_000);
}

/// <summary>What the coordinator believes of a device's claims. Pure.</summary>
public static class Claims
{
    /// <summary>
    /// <paramref name="device"/> with its memory and speed lowered to <paramref name="caps"/> when it is a volunteer's
    /// (a trusted device is the owner's own and keeps its claims). A speed that is not a number counts as above the
    /// cap. Never raises a claim.
    /// </summary>
    public static DeviceDescriptor Capped(DeviceDescriptor device, ClaimCaps caps)
    {
        if (!device.Volunteer)
        {
            return device;
        }

        long memory = Math.Min(device.MemoryBytes, caps.MaxMemoryBytes);
        double speed = device.Speed <= caps.MaxSpeed ? device.Speed : caps.MaxSpeed;
        long pinnable = Math.Min(device.PinnableBytes, caps.MaxPinnableBytes);
        double bandwidth = device.HostToDeviceBytesPerSecond <= caps.MaxHostToDeviceBytesPerSecond ? device.HostToDeviceBytesPerSecond : caps.MaxHostToDeviceBytesPerSecond;
        return memory == device.MemoryBytes && speed.Equals(device.Speed) && pinnable == device.PinnableBytes && bandwidth.Equals(device.HostToDeviceBytesPerSecond)
            ? device
            : device with { MemoryBytes = memory, Speed = speed, PinnableBytes = pinnable, HostToDeviceBytesPerSecond = bandwidth };
    }

    /// <summary>
    /// One line per claim <see cref="Capped"/> lowered ("claimed X, capped to Y"), for the coordinator's log; empty
    /// when nothing was capped. Numbers in the invariant culture.
    /// </summary>
    public static IReadOnlyList<string> Changes(DeviceDescriptor claimed, DeviceDescriptor capped)
    {
        var changes = new List<string>(4);
        if (capped.MemoryBytes != claimed.MemoryBytes)
        {
            changes.Add(FormattableString.Invariant($"claimed {claimed.MemoryBytes:N0} bytes, capped to {capped.MemoryBytes:N0}"));
        }

        if (!capped.Speed.Equals(claimed.Speed))
        {
            changes.Add(FormattableString.Invariant($"claimed speed {claimed.Speed:F0}, capped to {capped.Speed:F0}"));
        }

        if (capped.PinnableBytes != claimed.PinnableBytes)
        {
            changes.Add(FormattableString.Invariant($"claimed {claimed.PinnableBytes:N0} pinnable bytes, capped to {capped.PinnableBytes:N0}"));
        }

        if (!capped.HostToDeviceBytesPerSecond.Equals(claimed.HostToDeviceBytesPerSecond))
        {
            changes.Add(FormattableString.Invariant($"claimed host-to-device {claimed.HostToDeviceBytesPerSecond:G3} B/s, capped to {capped.HostToDeviceBytesPerSecond:G3}"));
        }

        return changes;
    }
}
