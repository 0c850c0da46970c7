using System.Globalization;

namespace ActorLlm.Inference.Checkpoints;

/// <summary>
/// How far a copy of <see cref="Total"/> bytes has come (a unit pulled from a peer, a checkpoint converted) after
/// <see cref="Elapsed"/>: the fraction, the mean rate so far and the time left at that rate, for progress lines and
/// bars. <see cref="Describe"/>: "512.0 MiB of 1.9 GiB (27%), 95.3 MiB/s, 15 s left".
/// </summary>
public readonly record struct TransferProgress(long Done, long Total, TimeSpan Elapsed)
{
    public double Fraction => Total <= 0 ? 1 : Math.Clamp((double)Done / Total, 0, 1);

    /// <summary>Bytes per second so far; 0 before any time has passed.</summary>
    public double BytesPerSecond => Elapsed > TimeSpan.Zero ? Done / Elapsed.TotalSeconds : 0;

    /// <summary>The time left at the rate so far; null while nothing has arrived (no rate to go by).</summary>
    public TimeSpan? Remaining => BytesPerSecond > 0 ? TimeSpan.FromSeconds(Math.Max(0, Total - Done) / BytesPerSecond) : null;

    public string Describe()
    {
        var inv = CultureInfo.InvariantCulture;
        string left = Remaining is { } r ? $", {Duration(r)} left" : "";
        return string.Create(inv, $"{Bytes(Done)} of {Bytes(Total)} ({Fraction * 100:F0}%), {Bytes((long)BytesPerSecond)}/s{left}");
    }

    /// <summary>"812 B", "1.5 KiB", "95.3 MiB", "1.9 GiB".</summary>
    public static string Bytes(long bytes)
    {
        var inv = CultureInfo.InvariantCulture;
        string[] units = ["B", "KiB", "MiB", "GiB", "TiB"];
        double value = bytes;
        int unit = 0;
        while (Math.Abs(value) >= 1024 && unit < units.Length - 1)
        {
            value /= 1024;
            unit++;
        }

        return unit == 0 ? string.Create(inv, $"{bytes} B") : string.Create(inv, $"{value:F1} {units[unit]}");
    }

    /// <summary>"42 s", "3 min 5 s", "2 h 10 min".</summary>
    public static string Duration(TimeSpan t) =>
        t.TotalSeconds < 60 ? $"{Math.Ceiling(t.TotalSeconds):F0} s"
        : t.TotalMinutes < 60 ? $"{(int)t.TotalMinutes} min {t.Seconds} s"
        : $"{(int)t.TotalHours} h {t.Minutes} min";
}

/// <summary>
/// When the next progress line is due: at most one per <see cref="Interval"/>, the first one interval after the start
/// (a copy that finishes sooner logs only its end).
/// </summary>
public sealed class ProgressThrottle(TimeSpan interval)
{
    private TimeSpan _next = interval;

    public TimeSpan Interval { get; } = interval;

    /// <summary>True (and the next line due one interval on) when <paramref name="elapsed"/> has reached the due time.</summary>
    public bool Due(TimeSpan elapsed)
    {
        if (Interval <= TimeSpan.Zero || elapsed < _next)
        {
            return false;
        }

        while (_next <= elapsed)
        {
            _next += Interval;
        }

        return true;
    }
}
