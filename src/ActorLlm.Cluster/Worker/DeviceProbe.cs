using System.Diagnostics;
using System.Globalization;
using ActorLlm.Cluster.Hosting;
using ActorLlm.Inference.Checkpoints;
using ActorLlm.Inference.Config;
using ActorLlm.Inference.Devices;
using ActorLlm.Inference.Execution;
using ActorLlm.Protocol;
using static TorchSharp.torch;

namespace ActorLlm.Cluster.Worker;

/// <summary>What a device measured: the speed and memory its <c>DeviceDescriptor</c> announces.</summary>
/// <param name="Speed">Decoder-layer forwards per second for one token (1 / the median step time).</param>
/// <param name="MemoryBytes">Memory offered for weights.</param>
/// <param name="MemorySource">Where <paramref name="MemoryBytes"/> came from, for the log.</param>
/// <param name="MedianStepSeconds">The median single-token step through one layer.</param>
/// <param name="TimedSteps">Steps the median was taken over.</param>
public sealed record DeviceMeasurement(double Speed, long MemoryBytes, string MemorySource, double MedianStepSeconds, int TimedSteps);

/// <summary>The two figures of /proc/meminfo the probe uses, in bytes.</summary>
public sealed record MemInfo(long TotalBytes, long AvailableBytes);

/// <summary>
/// Measures a device before its worker registers: how fast it runs a decoder layer of the model being served, and
/// how much memory it offers for weights. The parsing and arithmetic are pure functions beside the measurement.
/// </summary>
public static class DeviceProbe
{
    private const long MiB = 1024 * 1024;

    /// <summary>
    /// Measures memory first (before the probe's own allocations), then speed: a stage of one decoder layer with
    /// random weights of <paramref name="config"/>'s shape on <paramref name="target"/>, a short prefill, warm-up
    /// steps, then single-token steps timed one by one, as <paramref name="settings"/> say.
    /// </summary>
    /// <param name="memoryLimitBytes">Bytes the device offers for weights, as the operator says; when given the
    /// machine is not asked.</param>
    /// <exception cref="InvalidOperationException">The memory could not be read (no /proc/meminfo, nvidia-smi
    /// missing or failing); the message asks for <paramref name="memoryLimitBytes"/>.</exception>
    public static DeviceMeasurement Measure(ModelConfig config, ComputeTarget target, ProbeSettings settings, long? memoryLimitBytes = null)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(target);
        ArgumentNullException.ThrowIfNull(settings);
        settings.Validate();
        if (memoryLimitBytes is < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(memoryLimitBytes), $"the memory limit must be at least 0, got {memoryLimitBytes}");
        }

        var (bytes, source) = memoryLimitBytes is long limit ? (limit, "explicit limit") : MeasureMemory(target, settings);
        var (median, steps) = MeasureStep(config, target, settings);
        return new DeviceMeasurement(1 / median, bytes, source, median, steps);
    }

    /// <summary>
    /// Host-to-device copy bandwidth in bytes per second, measured once: on CUDA a 256 MiB pinned host tensor copied
    /// to the device (the path streamed layers take), the best of a few copies; on the CPU a copy between two host
    /// tensors of 64 MiB (what a CPU stage's ring does).
    /// </summary>
    public static double HostToDeviceBandwidth(ComputeTarget target)
    {
        ArgumentNullException.ThrowIfNull(target);
        long bytes = (target.IsCuda ? 256L : 64L) * MiB;
        using var scope = NewDisposeScope();
        var host = target.IsCuda ? empty(bytes, ScalarType.Byte).pin_memory() : ones(bytes, ScalarType.Byte);
        var device = empty(bytes, ScalarType.Byte, target.Device);
        double best = double.PositiveInfinity;
        for (int i = 0; i < 4; i++)
        {
            Synchronize(target);
            var clock = Stopwatch.StartNew();
            device.copy_(host, nonBlocking: true);
            Synchronize(target);
            best = Math.Min(best, clock.Elapsed.TotalSeconds);
        }

        return bytes / Math.Max(best, 1e-9);
    }

    /// <summary>MemTotal and MemAvailable (or, on kernels before 3.14, MemFree + Buffers + Cached) of /proc/meminfo.</summary>
    /// <exception cref="FormatException">The text lacks MemTotal or a way to tell the available memory.</exception>
    public static MemInfo ParseMemInfo(string text)
    {
        var fields = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (string line in text.Split('\n', StringSplitOptions.TrimEntries))
        {
            // "MemAvailable:   12345678 kB" (kB meaning KiB)
            int colon = line.IndexOf(':');
            if (colon <= 0)
            {
                continue;
            }

            string[] parts = line[(colon + 1)..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length is 1 or 2 && long.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out long value))
            {
                long scale = parts.Length == 2 && parts[1] == "kB" ? 1024 : 1;
                fields[line[..colon].Trim()] = value * scale;
            }
        }

        long total = fields.GetValueOrDefault("MemTotal", -1);
        if (total < 0)
        {
            throw new FormatException("meminfo has no MemTotal line");
        }

        if (fields.TryGetValue("MemAvailable", out long available))
        {
            return new MemInfo(total, available);
        }

        if (fields.TryGetValue("MemFree", out long free) && fields.TryGetValue("Cached", out long cached))
        {
            return new MemInfo(total, Math.Min(total, free + cached + fields.GetValueOrDefault("Buffers")));
        }

        throw new FormatException("meminfo has neither MemAvailable nor MemFree and Cached");
    }

    /// <summary>
    /// Free bytes from the output of <c>nvidia-smi --query-gpu=memory.free --format=csv,noheader,nounits -i N</c>:
    /// one line, a whole number of MiB.
    /// </summary>
    /// <exception cref="FormatException">Anything else (several GPUs' lines, "[N/A]", an error text).</exception>
    public static long ParseNvidiaSmi(string text)
    {
        string[] lines = text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (lines.Length != 1)
        {
            throw new FormatException($"expected one line with the free MiB of one GPU, got {lines.Length}: '{text.Trim()}'");
        }

        if (!long.TryParse(lines[0], NumberStyles.None, CultureInfo.InvariantCulture, out long mib))
        {
            throw new FormatException($"expected the free MiB as a whole number, got '{lines[0]}'");
        }

        return mib * MiB;
    }

    /// <summary>
    /// The <c>-i</c> argument of nvidia-smi for torch's CUDA device <paramref name="torchIndex"/>. nvidia-smi numbers
    /// all GPUs and ignores CUDA_VISIBLE_DEVICES, which renumbers them for torch; its entries (indices or UUIDs,
    /// both of which <c>-i</c> accepts) map torch's index back.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">CUDA_VISIBLE_DEVICES lists fewer devices than the index needs.</exception>
    public static string NvidiaSmiDeviceId(int torchIndex, string? cudaVisibleDevices)
    {
        int index = Math.Max(torchIndex, 0);
        if (string.IsNullOrWhiteSpace(cudaVisibleDevices))
        {
            return index.ToString(CultureInfo.InvariantCulture);
        }

        string[] visible = cudaVisibleDevices.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        return index < visible.Length
            ? visible[index]
            : throw new ArgumentOutOfRangeException(nameof(torchIndex), $"cuda:{index} is not among CUDA_VISIBLE_DEVICES={cudaVisibleDevices}");
    }

    /// <summary>
    /// What a CPU device offers: <paramref name="fraction"/> of the available memory, no more than the process may
    /// use (<paramref name="processLimitBytes"/>: a container's limit, which /proc/meminfo does not show; 0 or less
    /// for none).
    /// </summary>
    public static long CpuMemoryBytes(MemInfo info, long processLimitBytes, double fraction)
    {
        long available = processLimitBytes > 0 ? Math.Min(info.AvailableBytes, processLimitBytes) : info.AvailableBytes;
        return (long)(Math.Max(0, available) * fraction);
    }

    private static (long Bytes, string Source) MeasureMemory(ComputeTarget target, ProbeSettings settings) =>
        target.IsCuda ? GpuMemory(target, settings.GpuMemoryFraction, settings.NvidiaSmiTimeout) : CpuMemory(settings.CpuMemoryFraction);

    /// <summary>
    /// The available memory as the runtime sees it on every platform: <paramref name="totalAvailableBytes"/> (the
    /// GC's TotalAvailableMemoryBytes: the machine's memory or the process's limit, whichever is smaller) less
    /// <paramref name="memoryLoadBytes"/> (the machine's memory in use at the last collection); never below 0.
    /// </summary>
    public static long RuntimeAvailableBytes(long totalAvailableBytes, long memoryLoadBytes) =>
        Math.Max(0, totalAvailableBytes - Math.Max(0, memoryLoadBytes));

    /// <summary>
    /// A CPU device's memory: on Linux MemAvailable of /proc/meminfo (which counts reclaimable page cache as
    /// available, unlike the runtime's memory load) capped by the process limit; elsewhere (Windows, macOS), or where
    /// /proc/meminfo cannot be read, the runtime's figure (<see cref="RuntimeAvailableBytes"/>).
    /// </summary>
    private static (long, string) CpuMemory(double fraction)
    {
        // The GC's figure is the machine's memory or the container's limit, whichever is smaller.
        long processLimit = GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;
        if (OperatingSystem.IsLinux() && LinuxMemInfo() is { } info)
        {
            return (CpuMemoryBytes(info, processLimit, fraction), $"{fraction:0.##} of MemAvailable {info.AvailableBytes / MiB} MiB"
                + (processLimit > 0 && processLimit < info.AvailableBytes ? $" capped by the process limit {processLimit / MiB} MiB" : ""));
        }

        // The memory load is taken at a collection; before the first one it is not known yet.
        var gc = GC.GetGCMemoryInfo();
        if (gc.Index == 0)
        {
            GC.Collect();
            gc = GC.GetGCMemoryInfo();
        }

        long available = RuntimeAvailableBytes(gc.TotalAvailableMemoryBytes, gc.MemoryLoadBytes);
        if (available <= 0)
        {
            throw new InvalidOperationException("could not tell the available memory of this machine; give the memory this device offers for weights explicitly (--memory-limit)");
        }

        return ((long)(available * fraction), $"{fraction:0.##} of the available memory {available / MiB} MiB (the runtime's limit {gc.TotalAvailableMemoryBytes / MiB} MiB less {gc.MemoryLoadBytes / MiB} MiB in use)");
    }

    /// <summary>/proc/meminfo, or null where it cannot be read or parsed (then the runtime's figure is used).</summary>
    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    private static MemInfo? LinuxMemInfo()
    {
        try
        {
            return ParseMemInfo(File.ReadAllText("/proc/meminfo"));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException)
        {
            return null;
        }
    }

    private static (long, string) GpuMemory(ComputeTarget target, double fraction, TimeSpan timeout)
    {
        string id = NvidiaSmiDeviceId(target.Device.index, Environment.GetEnvironmentVariable("CUDA_VISIBLE_DEVICES"));
        long free;
        try
        {
            free = ParseNvidiaSmi(RunNvidiaSmi(id, timeout));
        }
        catch (Exception e) when (e is InvalidOperationException or FormatException or System.ComponentModel.Win32Exception or IOException)
        {
            throw new InvalidOperationException(
                $"could not read the free memory of GPU {id} ({target.Device}) with nvidia-smi: {e.Message}; "
                + "give the memory this device offers for weights explicitly", e);
        }

        return ((long)(free * fraction), $"{fraction:0.##} of nvidia-smi memory.free {free / MiB} MiB of GPU {id}");
    }

    private static string RunNvidiaSmi(string id, TimeSpan timeout)
    {
        var start = new ProcessStartInfo("nvidia-smi")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string arg in new[] { "--query-gpu=memory.free", "--format=csv,noheader,nounits", "-i", id })
        {
            start.ArgumentList.Add(arg);
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException("nvidia-smi did not start");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(timeout))
        {
            process.Kill();
            throw new InvalidOperationException($"nvidia-smi did not answer within {timeout.TotalSeconds:0.###} s");
        }

        return process.ExitCode == 0
            ? stdout.GetAwaiter().GetResult()
            : throw new InvalidOperationException($"nvidia-smi exited with {process.ExitCode}: {(stderr.GetAwaiter().GetResult() + stdout.GetAwaiter().GetResult()).Trim()}");
    }

    /// <summary>The median seconds of a single-token step through one decoder layer, and how many steps were timed.</summary>
    private static (double Median, int Steps) MeasureStep(ModelConfig config, ComputeTarget target, ProbeSettings settings)
    {
        if (config.MaxPositionEmbeddings < 2)
        {
            throw new ArgumentException($"a context of {config.MaxPositionEmbeddings} position(s) leaves no room for a decode step", nameof(config));
        }

        // A model with a short context gets fewer warm-up steps first, then fewer timed ones.
        int prompt = Math.Min(settings.PromptTokens, config.MaxPositionEmbeddings - 1);
        int room = config.MaxPositionEmbeddings - prompt;
        int timedSteps = Math.Min(settings.TimedSteps, room);
        int warmup = Math.Min(settings.WarmupSteps, room - timedSteps);
        using var weights = new RandomWeightSource(config);
        using var stage = StageExecutor.Load(weights, new UnitRange(1, 2), target, new KvCacheOptions(MaxSessions: 1, MaxContext: prompt + warmup + timedSteps));
        var session = SessionId.New();
        var random = new Random(0);
        int Token() => random.Next(config.VocabSize);

        RunStep(stage, target, session, 0, Enumerable.Range(0, prompt).Select(_ => Token()).ToArray());
        for (int i = 0; i < warmup; i++)
        {
            RunStep(stage, target, session, prompt + i, [Token()]);
        }

        var times = new List<double>();
        var timed = TimeSpan.Zero;
        while (times.Count < timedSteps && (timed < settings.TimingBudget || times.Count < settings.MinTimedSteps))
        {
            double seconds = RunStep(stage, target, session, prompt + warmup + times.Count, [Token()]);
            times.Add(seconds);
            timed += TimeSpan.FromSeconds(seconds);
        }

        times.Sort();
        double median = times.Count % 2 == 1 ? times[times.Count / 2] : (times[(times.Count / 2) - 1] + times[times.Count / 2]) / 2;
        return (median, times.Count);
    }

    /// <summary>One pass of <paramref name="tokens"/> through the stage, timed to its end on the device.</summary>
    private static double RunStep(StageExecutor stage, ComputeTarget target, SessionId session, int start, int[] tokens)
    {
        using var scope = NewDisposeScope();
        var hidden = randn(new long[] { tokens.Length, stage.Config.HiddenSize }, target.DType, target.Device);
        Synchronize(target);
        var clock = Stopwatch.StartNew();
        using var output = stage.Forward([new StageInput(session, start, tokens, hidden)])[0];
        Synchronize(target);
        return clock.Elapsed.TotalSeconds;
    }

    private static void Synchronize(ComputeTarget target)
    {
        if (target.IsCuda)
        {
            cuda.synchronize(target.Device);
        }
    }
}
