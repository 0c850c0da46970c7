using ActorLlm.Protocol;

namespace ActorLlm.Cluster.Placement;

/// <summary>
/// Rejects inputs the planner cannot reason about. The coordinator validates registrations before planning,
/// so reaching these means a bug upstream: fail loudly rather than plan around a NaN.
/// </summary>
internal static class PlanValidation
{
    public static void Validate(IReadOnlyList<DevicePlanInput> devices, IReadOnlyList<UnitPlanInput> units, int redundancy, PlannerOptions options)
    {
        ArgumentNullException.ThrowIfNull(devices);
        ArgumentNullException.ThrowIfNull(units);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentOutOfRangeException.ThrowIfLessThan(redundancy, 1);
        if (!double.IsFinite(options.MemoryHeadroom) || options.MemoryHeadroom <= 0 || options.MemoryHeadroom > 1)
        {
            throw new ArgumentException($"memory headroom must be in (0, 1], got {options.MemoryHeadroom}", nameof(options));
        }

        var seen = new HashSet<DeviceKey>();
        foreach (var device in devices)
        {
            if (device is null || string.IsNullOrEmpty(device.Id.Node.Value) || string.IsNullOrEmpty(device.Id.Device))
            {
                throw new ArgumentException("every device needs a node address and a device name", nameof(devices));
            }

            if (string.IsNullOrWhiteSpace(device.Machine))
            {
                throw new ArgumentException($"device {device.Id}: machine must be named (replicas are kept on distinct machines)", nameof(devices));
            }

            if (!double.IsFinite(device.Speed) || device.Speed <= 0)
            {
                throw new ArgumentException($"device {device.Id}: speed must be a finite number > 0, got {device.Speed}", nameof(devices));
            }

            if (device.MemoryBytes < 0)
            {
                throw new ArgumentException($"device {device.Id}: memory must be >= 0 bytes, got {device.MemoryBytes}", nameof(devices));
            }

            if (!seen.Add(device.Id))
            {
                throw new ArgumentException($"device {device.Id} is listed twice", nameof(devices));
            }
        }

        if (units.Count < 2)
        {
            throw new ArgumentException($"a model has at least a begin and an end unit, got {units.Count} unit(s)", nameof(units));
        }

        for (int i = 0; i < units.Count; i++)
        {
            var unit = units[i] ?? throw new ArgumentException($"unit {i} is null", nameof(units));
            if (unit.Index != i)
            {
                throw new ArgumentException($"units must be listed in order 0..{units.Count - 1}; position {i} holds unit {unit.Index}", nameof(units));
            }

            if (unit.Bytes < 0)
            {
                throw new ArgumentException($"unit {i}: bytes must be >= 0, got {unit.Bytes}", nameof(units));
            }

            if (!double.IsFinite(unit.Cost) || unit.Cost <= 0)
            {
                throw new ArgumentException($"unit {i}: cost must be a finite number > 0, got {unit.Cost}", nameof(units));
            }
        }
    }
}
