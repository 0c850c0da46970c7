using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;

namespace ActorLlm.IntegrationTests;

/// <summary>
/// A child process whose stdout and stderr lines are collected, with waiting for a line and Ctrl-C (SIGINT through
/// /bin/kill: Process.Kill sends SIGKILL). Killed on dispose if still running.
/// </summary>
internal sealed class LineProcess : IDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();
    private readonly Lock _lock = new();
    private readonly List<(string Prefix, TaskCompletionSource<string> Seen)> _waits = [];

    static LineProcess()
    {
        // A process started in the background by a non-interactive shell has SIGINT ignored, and children inherit that
        // (the runtime respects an ignored SIGINT): the Ctrl-C these tests send would then never arrive. Give this
        // test process (and so its children) the default disposition back.
        if (OperatingSystem.IsLinux() && File.ReadAllLines("/proc/self/status").FirstOrDefault(l => l.StartsWith("SigIgn:", StringComparison.Ordinal)) is { } ignored
            && (Convert.ToUInt64(ignored["SigIgn:".Length..].Trim(), 16) & (1UL << (SigInt - 1))) != 0)
        {
            _ = Signal(SigInt, 0);  // SIG_DFL
        }
    }

    private const int SigInt = 2;

    [DllImport("libc", EntryPoint = "signal")]
    private static extern nint Signal(int signal, nint handler);

    public LineProcess(ProcessStartInfo psi)
    {
        psi.RedirectStandardOutput = true;
        psi.RedirectStandardError = true;
        psi.UseShellExecute = false;
        _process = new Process { StartInfo = psi, EnableRaisingEvents = true };
        _process.OutputDataReceived += (_, e) => OnLine(e.Data);
        _process.ErrorDataReceived += (_, e) => OnLine(e.Data);
        _process.Exited += (_, _) =>
        {
            lock (_lock)
            {
                foreach (var (prefix, seen) in _waits)
                {
                    seen.TrySetException(new InvalidOperationException($"exited (code {_process.ExitCode}) before a line containing '{prefix}'\n{_output}"));
                }
            }
        };
        _process.Start();
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    public string Output
    {
        get
        {
            lock (_lock)
            {
                return _output.ToString();
            }
        }
    }

    public bool HasExited => _process.HasExited;

    /// <summary>The first line (stdout or stderr) that contains <paramref name="text"/>, seen already or to come.</summary>
    public async Task<string> WaitForLineAsync(string text, TimeSpan timeout)
    {
        var seen = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_lock)
        {
            var earlier = _output.ToString().Split('\n').FirstOrDefault(l => l.Contains(text, StringComparison.Ordinal));
            if (earlier is not null)
            {
                return earlier;
            }

            if (_process.HasExited)
            {
                throw new InvalidOperationException($"exited (code {_process.ExitCode}) before a line containing '{text}'\n{_output}");
            }

            _waits.Add((text, seen));
        }

        try
        {
            return await seen.Task.WaitAsync(timeout);
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"no line containing '{text}' within {timeout.TotalSeconds:0} s\n{Output}");
        }
    }

    /// <summary>Sends SIGINT and waits for the exit: the exit code and how long it took from the signal.</summary>
    public async Task<(int ExitCode, TimeSpan Took)> InterruptAsync(TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        using (var kill = Process.Start(new ProcessStartInfo("/bin/kill", ["-INT", _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]))!)
        {
            await kill.WaitForExitAsync();
        }

        using var cancel = new CancellationTokenSource(timeout);
        await _process.WaitForExitAsync(cancel.Token);
        var took = clock.Elapsed;
        return (_process.ExitCode, took);
    }

    private void OnLine(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_lock)
        {
            _output.Append(line).Append('\n');
            foreach (var (prefix, seen) in _waits.Where(w => line.Contains(w.Prefix, StringComparison.Ordinal)))
            {
                seen.TrySetResult(line);
            }
        }
    }

    public void Dispose()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit(5000);
        }

        _process.Dispose();
    }
}
