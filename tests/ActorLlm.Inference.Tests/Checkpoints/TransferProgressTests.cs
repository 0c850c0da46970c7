using ActorLlm.Inference.Checkpoints;
using ActorLlm.Inference.Devices;
using ActorLlm.Inference.Execution;
using ActorLlm.Protocol;
using Xunit;

namespace ActorLlm.Inference.Tests.Checkpoints;

/// <summary>Progress of long copies: the figures and text of a progress line, when lines are due, and a load's progress.</summary>
public sealed class TransferProgressTests
{
    [Fact]
    public void A_progress_line_gives_bytes_fraction_rate_and_time_left()
    {
        var p = new TransferProgress(512L << 20, 2048L << 20, TimeSpan.FromSeconds(4));
        Assert.Equal(0.25, p.Fraction);
        Assert.Equal(128.0 * 1048576, p.BytesPerSecond);
        Assert.Equal(TimeSpan.FromSeconds(12), p.Remaining);
        Assert.Equal("512.0 MiB of 2.0 GiB (25%), 128.0 MiB/s, 12 s left", p.Describe());
    }

    [Fact]
    public void Before_anything_arrives_there_is_no_rate_and_no_time_left()
    {
        var p = new TransferProgress(0, 1000, TimeSpan.Zero);
        Assert.Null(p.Remaining);
        Assert.Equal("0 B of 1000 B (0%), 0 B/s", p.Describe());
        Assert.Equal(1, new TransferProgress(0, 0, TimeSpan.FromSeconds(1)).Fraction);
    }

    [Theory]
    [InlineData(812, "812 B")]
    [InlineData(1536, "1.5 KiB")]
    [InlineData(3L << 40, "3.0 TiB")]
    public void Bytes_are_written_in_binary_units(long bytes, string text) => Assert.Equal(text, TransferProgress.Bytes(bytes));

    [Theory]
    [InlineData(41.2, "42 s")]
    [InlineData(185, "3 min 5 s")]
    [InlineData(7800, "2 h 10 min")]
    public void Durations_are_short(double seconds, string text) => Assert.Equal(text, TransferProgress.Duration(TimeSpan.FromSeconds(seconds)));

    [Fact]
    public void Lines_are_due_once_per_interval_and_never_before_the_first()
    {
        var throttle = new ProgressThrottle(TimeSpan.FromSeconds(5));
        bool[] due = [.. new[] { 0.0, 4.9, 5.0, 6, 9.9, 10, 27, 28, 30 }.Select(s => throttle.Due(TimeSpan.FromSeconds(s)))];
        Assert.Equal([false, false, true, false, false, true, true, false, true], due);
        Assert.False(new ProgressThrottle(TimeSpan.Zero).Due(TimeSpan.FromHours(1)));
    }

    [Fact]
    public void A_load_reports_its_bytes_as_it_reads_them_up_to_the_range_total()
    {
        using var source = HfCheckpoint.Open(RepoPaths.Stories260K);
        var range = new UnitRange(2, 5);
        var reports = new List<(long Done, long Total)>();
        using var stage = StageExecutor.Load(source, range, ComputeTarget.Cpu, new KvCacheOptions(1, 16), progress: (d, t) => reports.Add((d, t)));
        long expected = Enumerable.Range(2, 3)
            .SelectMany(u => UnitTensors.Required(source.Config, u, source.Contains))
            .Sum(n => source.Entry(n).Length);
        Assert.All(reports, r => Assert.Equal(expected, r.Total));
        Assert.Equal(reports.Select(r => r.Done).Order(), reports.Select(r => r.Done));
        Assert.Equal(expected, reports[^1].Done);
        Assert.Equal(27, reports.Count); // 9 tensors per layer
    }
}
