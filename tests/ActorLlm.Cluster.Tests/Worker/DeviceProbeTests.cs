using System.Diagnostics;
using ActorLlm.Cluster.Hosting;
using ActorLlm.Cluster.Worker;
using ActorLlm.Inference.Config;
using ActorLlm.Inference.Devices;
using TorchSharp;
using Xunit;
using Xunit.Abstractions;

namespace ActorLlm.Cluster.Tests.Worker;

public class DeviceProbeTests(ITestOutputHelper output)
{
    private const long KiB = 1024;
    private const long MiB = 1024 * 1024;

    private static readonly ModelConfig s_stories = ModelConfig.Load(TestModels.Stories260K);
    private static readonly ProbeSettings s_probe = ReferenceSettings.Probe;

    private const string MemInfoSample = """
        MemTotal:       16314756 kB
        MemFree:          807264 kB
        MemAvailable:   10226600 kB
        Buffers:          520780 kB
        Cached:          8646188 kB
        SwapCached:            0 kB
        HugePages_Total:       0
        HugePages_Free:        0
        Hugepagesize:       2048 kB
        """;

    // A kernel before 3.14: no MemAvailable.
    private const string OldMemInfoSample = """
        MemTotal:        2048000 kB
        MemFree:          100000 kB
        Buffers:           20000 kB
        Cached:           300000 kB
        """;

    [Fact]
    public void Meminfo_gives_total_and_available_in_bytes()
    {
        Assert.Equal(new MemInfo(16314756 * KiB, 10226600 * KiB), DeviceProbe.ParseMemInfo(MemInfoSample));
        Assert.Equal(new MemInfo(2048000 * KiB, 420000 * KiB), DeviceProbe.ParseMemInfo(OldMemInfoSample));
        Assert.Equal(new MemInfo(16314756 * KiB, 10226600 * KiB), DeviceProbe.ParseMemInfo(MemInfoSample.Replace("\n", "\r\n")));
    }

    [Theory]
    [InlineData("")]
    [InlineData("MemFree: 100 kB\nMemAvailable: 100 kB")]
    [InlineData("MemTotal: 100 kB\nSwapTotal: 0 kB")]
    [InlineData("MemTotal: lots kB\nMemAvailable: 100 kB")]
    public void Meminfo_without_the_needed_lines_is_refused(string text) =>
        Assert.Throws<FormatException>(() => DeviceProbe.ParseMemInfo(text));

    [Theory]
    [InlineData("81042\n", 81042)]
    [InlineData("  512 \r\n", 512)]
    [InlineData("0", 0)]
    public void Nvidia_smi_free_memory_is_mib(string text, long mib) =>
        Assert.Equal(mib * MiB, DeviceProbe.ParseNvidiaSmi(text));

    [Theory]
    [InlineData("")]
    [InlineData("[N/A]\n")]
    [InlineData("81042\n79000\n")]                 // two GPUs: the -i went missing
    [InlineData("81042 MiB\n")]                    // nounits went missing
    [InlineData("No devices were found\n")]
    public void Nvidia_smi_output_other_than_one_number_is_refused(string text) =>
        Assert.Throws<FormatException>(() => DeviceProbe.ParseNvidiaSmi(text));

    [Theory]
    [InlineData(0, null, "0")]
    [InlineData(3, "", "3")]
    [InlineData(-1, null, "0")]                    // "cuda" without an index is GPU 0
    [InlineData(1, "2,3", "3")]
    [InlineData(0, " 5 , 6", "5")]
    [InlineData(1, "GPU-aaaa,GPU-bbbb", "GPU-bbbb")]
    public void Torch_indices_map_through_cuda_visible_devices_to_nvidia_smi_ids(int index, string? visible, string expected) =>
        Assert.Equal(expected, DeviceProbe.NvidiaSmiDeviceId(index, visible));

    [Fact]
    public void A_torch_index_beyond_the_visible_devices_is_refused() =>
        Assert.Throws<ArgumentOutOfRangeException>(() => DeviceProbe.NvidiaSmiDeviceId(2, "0,1"));

    [Fact]
    public void Cpu_memory_is_a_fraction_of_the_available_capped_by_the_process_limit()
    {
        var info = new MemInfo(64L << 30, 40L << 30);
        Assert.Equal(20L << 30, DeviceProbe.CpuMemoryBytes(info, 0, 0.5));
        Assert.Equal(20L << 30, DeviceProbe.CpuMemoryBytes(info, 64L << 30, 0.5));
        Assert.Equal(4L << 30, DeviceProbe.CpuMemoryBytes(info, 8L << 30, 0.5));     // a container of 8 GiB
        Assert.Equal(40L << 30, DeviceProbe.CpuMemoryBytes(info, -1, 1.0));
    }

    [Fact]
    public void Without_proc_meminfo_the_available_memory_is_the_runtime_limit_less_the_memory_in_use()
    {
        Assert.Equal(24L << 30, DeviceProbe.RuntimeAvailableBytes(32L << 30, 8L << 30));
        Assert.Equal(32L << 30, DeviceProbe.RuntimeAvailableBytes(32L << 30, 0));
        Assert.Equal(0, DeviceProbe.RuntimeAvailableBytes(8L << 30, 9L << 30));     // more in use than a container's limit
        Assert.Equal(8L << 30, DeviceProbe.RuntimeAvailableBytes(8L << 30, -1));
    }

    [Fact]
    public void Measuring_the_cpu_gives_a_finite_speed_and_memory_within_the_machine()
    {
        DeviceProbe.Measure(s_stories, ComputeTarget.Cpu, s_probe);            // loads libtorch, warms the JIT
        long liveBefore = DisposeScopeManager.Statistics.TensorStatistics.ThreadTotalLiveCount;
        var clock = Stopwatch.StartNew();
        var m = DeviceProbe.Measure(s_stories, ComputeTarget.Cpu, s_probe);
        clock.Stop();
        output.WriteLine($"{m} in {clock.Elapsed.TotalMilliseconds:0} ms");

        Assert.True(double.IsFinite(m.Speed) && m.Speed > 0, $"speed {m.Speed}");
        Assert.True(m.MedianStepSeconds > 0 && m.MedianStepSeconds < clock.Elapsed.TotalSeconds, $"median step {m.MedianStepSeconds} s of a {clock.Elapsed.TotalSeconds} s probe");
        Assert.Equal(s_probe.TimedSteps, m.TimedSteps);
        var machine = DeviceProbe.ParseMemInfo(File.ReadAllText("/proc/meminfo"));
        Assert.InRange(m.MemoryBytes, 1, machine.TotalBytes);
        Assert.Contains("MemAvailable", m.MemorySource);

        // Every tensor the probe made is gone. (How long it takes is bounded by probe.timing-budget, tested below.)
        Assert.Equal(liveBefore, DisposeScopeManager.Statistics.TensorStatistics.ThreadTotalLiveCount);
    }

    [Fact]
    public void An_explicit_limit_is_taken_as_given()
    {
        var m = DeviceProbe.Measure(s_stories, ComputeTarget.Cpu, s_probe, 3 * MiB);
        Assert.Equal(3 * MiB, m.MemoryBytes);
        Assert.Equal("explicit limit", m.MemorySource);
    }

    [Fact]
    public void Timing_stops_early_past_its_time_budget_but_after_the_minimum_steps()
    {
        var m = DeviceProbe.Measure(s_stories, ComputeTarget.Cpu, s_probe with { TimingBudget = TimeSpan.FromTicks(1) }, MiB);
        Assert.Equal(s_probe.MinTimedSteps, m.TimedSteps);
    }

    [Fact]
    public void A_short_context_shortens_warm_up_and_timing_instead_of_failing()
    {
        var m = DeviceProbe.Measure(s_stories with { MaxPositionEmbeddings = 4 }, ComputeTarget.Cpu, s_probe, MiB);
        Assert.Equal(1, m.TimedSteps);                 // 3 prompt tokens, then one step
        Assert.True(m.Speed > 0);
    }

    [Theory]
    [InlineData(-1L, 0.5)]
    [InlineData(null, 0.0)]
    [InlineData(null, 1.5)]
    public void Bad_options_are_refused(long? limit, double fraction) =>
        Assert.Throws<ArgumentOutOfRangeException>(() =>
            DeviceProbe.Measure(s_stories, ComputeTarget.Cpu, s_probe with { CpuMemoryFraction = fraction }, limit));
}
