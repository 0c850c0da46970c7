using ActorLlm.Cluster.Worker;
using ActorLlm.Inference.Devices;
using Xunit;
using Xunit.Abstractions;

namespace ActorLlm.Cluster.Tests.Worker;

/// <summary>The probe's host-to-device bandwidth, which the planner divides streamed bytes by.</summary>
public class StreamedProbeTests(ITestOutputHelper output)
{
    [Fact]
    public void The_cpu_reports_a_memory_copy_bandwidth_of_a_plausible_size()
    {
        double bandwidth = DeviceProbe.HostToDeviceBandwidth(ComputeTarget.Cpu);
        output.WriteLine($"{bandwidth / 1e9:F2} GB/s");

        // A 64 MiB copy: slower than 100 MB/s or faster than 1 TB/s is no measurement of this machine.
        Assert.InRange(bandwidth, 1e8, 1e12);
    }
}
