using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Runtime.Versioning;
using ActorLlm.Protocol;

namespace ActorLlm.Cli.Pool;

/// <summary>
/// One `actorllm node` child process: started with its arguments, its stdout watched for the "node up" line,
/// stdout and stderr appended to a log file.
/// </summary>
public sealed partial class NodeProcess : IDisposable
{
    private const int SigTerm = 15;
    private const int SigCont = 18;  // Linux numbering
    private const int SigStop = 19;
    private readonly Process _process;
    private readonly TaskCompletionSource<NodeAddress> _up = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource<string> _http = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly StreamWriter _log;
    private readonly Lock _logLock = new();

    private NodeProcess(string name, Process process, string logPath)
    {
        Name = name;
        _process = process;
        LogPath = logPath;
        _log = new StreamWriter(logPath, append: true) { AutoFlush = true };
    }

    public string Name { get; }

    public string LogPath { get; }

    public bool HasExited => _process.HasExited;

    /// <summary>CPU time the process has used so far (user and system, every thread).</summary>
    public TimeSpan ProcessorTime
    {
        get
        {
            _process.Refresh();
            return _process.TotalProcessorTime;
        }
    }

    /// <summary>The node's cluster address, once it printed its "node up" line.</summary>
    public Task<NodeAddress> Up => _up.Task;

    /// <summary>A gateway's API base URL (http://host:port/v1), once it printed its "http" line.</summary>
    public Task<string> Http => _http.Task;

    /// <summary>
    /// Starts `actorllm node` with <paramref name="args"/> (and <paramref name="environment"/> added to this process's);
    /// output goes to <paramref name="logPath"/>.
    /// </summary>
    public static NodeProcess Start(string name, IEnumerable<string> args, string logPath, IReadOnlyDictionary<string, string>? environment = null)
    {
        var psi = SelfCommand();
        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
        {
            psi.Environment[key] = value;
        }

        psi.ArgumentList.Add("node");
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        psi.RedirectStandardOutput = true;
        psi.RedirectStandardError = true;
        psi.UseShellExecute = false;
        var process = new Process { StartInfo = psi, EnableRaisingEvents = true };
        var node = new NodeProcess(name, process, logPath);
        process.OutputDataReceived += (_, e) => node.OnLine(e.Data, stdout: true);
        process.ErrorDataReceived += (_, e) => node.OnLine(e.Data, stdout: false);
        process.Exited += (_, _) =>
        {
            if (node._up.Task.IsCompleted)
            {
                return;
            }

            // Its last words first: the output still in the pipes is read to its end before the reason is picked.
            process.WaitForExit();
            var exited = new NodeStartException($"{name} exited (code {process.ExitCode}) before it was up: {node.Reason()} (its log: {logPath})");
            node._up.TrySetException(exited);
            node._http.TrySetException(exited);
        };
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return node;
    }

    /// <summary>How to run this same program again: the apphost, or `dotnet actorllm.dll` when started that way.</summary>
    public static ProcessStartInfo SelfCommand()
    {
        string self = Environment.ProcessPath ?? throw new InvalidOperationException("cannot tell this program's path");
        string dll = Path.Combine(AppContext.BaseDirectory, "actorllm.dll");
        var psi = Path.GetFileNameWithoutExtension(self) == "dotnet" || !Path.GetFileName(self).StartsWith("actorllm", StringComparison.Ordinal)
            ? new ProcessStartInfo("dotnet") { ArgumentList = { dll } }
            : new ProcessStartInfo(self);
        return psi;
    }

    private void OnLine(string? line, bool stdout)
    {
        if (line is null)
        {
            return;
        }

        lock (_logLock)
        {
            _log.WriteLine(line);
        }

        const string marker = "actorllm node up: ";
        const string http = "actorllm http: ";
        if (stdout && line.StartsWith(marker, StringComparison.Ordinal))
        {
            _up.TrySetResult(new NodeAddress(line[marker.Length..].Split(' ')[0]));
        }
        else if (stdout && line.StartsWith(http, StringComparison.Ordinal))
        {
            _http.TrySetResult(line[http.Length..].Trim());
        }
    }

    /// <summary>SIGKILL: the process dies at once, as a volunteer machine that loses power.</summary>
    public void Kill() => _process.Kill(entireProcessTree: true);

    /// <summary>SIGSTOP: the process freezes, as a machine that is suspended, until <see cref="Resume"/>.</summary>
    public void Pause() => Signal(SigStop);

    /// <summary>SIGCONT after <see cref="Pause"/>.</summary>
    public void Resume() => Signal(SigCont);

    private void Signal(int signal)
    {
        if (!OperatingSystem.IsLinux())
        {
            throw new PlatformNotSupportedException($"{Name}: pausing and resuming a node process needs Linux signals");
        }

        if (Kill(_process.Id, signal) != 0)
        {
            throw new InvalidOperationException($"{Name}: signal {signal} failed (errno {Marshal.GetLastPInvokeError()})");
        }
    }

    /// <summary>The exit code, once the process has ended of itself; a <see cref="TimeoutException"/> if it is still running after <paramref name="timeout"/>.</summary>
    public async Task<int> ExitCodeAsync(TimeSpan timeout)
    {
        using var wait = new CancellationTokenSource(timeout);
        try
        {
            await _process.WaitForExitAsync(wait.Token);
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"{Name} is still running after {timeout.TotalSeconds:F0} s; last lines:\n{Tail(20)}");
        }

        return _process.ExitCode;
    }

    /// <summary>
    /// SIGTERM, then SIGKILL if it has not left within <paramref name="grace"/>. Where there are no POSIX signals
    /// (Windows) the process is killed at once.
    /// </summary>
    public async Task StopAsync(TimeSpan grace)
    {
        if (_process.HasExited)
        {
            return;
        }

        if (!OperatingSystem.IsLinux() && !OperatingSystem.IsMacOS())
        {
            Kill();
            await _process.WaitForExitAsync();
            return;
        }

        _ = Kill(_process.Id, SigTerm);
        using var timeout = new CancellationTokenSource(grace);
        try
        {
            await _process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            Kill();
            await _process.WaitForExitAsync();
        }
    }

    /// <summary>Why a node that ended said it did: its last "error: " line, else its last line.</summary>
    private string Reason()
    {
        var lines = Tail(40).Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        return lines.LastOrDefault(l => l.StartsWith("error: ", StringComparison.Ordinal))?["error: ".Length..]
            ?? lines.LastOrDefault()
            ?? "it wrote nothing";
    }

    /// <summary>The last lines of the log, for error reports.</summary>
    public string Tail(int lines = 20)
    {
        lock (_logLock)
        {
            _log.Flush();
        }

        var all = File.ReadAllLines(LogPath);
        return string.Join(Environment.NewLine, all.Skip(Math.Max(0, all.Length - lines)));
    }

    /// <summary>kill(2): POSIX only (SIGTERM is 15 on Linux and macOS; the SIGSTOP and SIGCONT numbers above are Linux's).</summary>
    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    [SupportedOSPlatform("linux")]
    [SupportedOSPlatform("macos")]
    private static partial int Kill(int pid, int signal);

    public void Dispose()
    {
        if (!_process.HasExited)
        {
            Kill();
            _process.WaitForExit(5000);
        }

        _process.Dispose();
        lock (_logLock)
        {
            _log.Dispose();
        }
    }
}

/// <summary>A node process of a local pool ended before it was up; the message says why, in its own words.</summary>
public sealed class NodeStartException(string message) : Exception(message);
