using System.CommandLine;
using System.Runtime.InteropServices;
using System.Runtime.Versioning;
using ActorLlm.Cli.Commands;
using ActorLlm.Inference;
using ActorLlm.Protocol;

namespace ActorLlm.Cli;

/// <summary>The <c>actorllm</c> command line: results on stdout, diagnostics and errors on stderr.</summary>
public static partial class CliApp
{
    public const int ExitOk = 0;
    public const int ExitError = 1;
    public const int ExitUsage = 2;

    /// <summary>A command interrupted by Ctrl-C before it finished (128 + SIGINT, the shell's convention).</summary>
    public const int ExitInterrupted = 130;

    /// <summary>
    /// How long a command may take to end after Ctrl-C or SIGTERM before System.CommandLine gives up on it and the
    /// process exits anyway (with 130, or 143 for SIGTERM): the bound behind "ends within 2 s" for work that cannot be
    /// cancelled (a model being converted, a cluster leave that is slow). The commands that own node processes keep
    /// longer, to stop them.
    /// </summary>
    public static readonly TimeSpan TerminationGrace = TimeSpan.FromSeconds(1.5);

    private static readonly TimeSpan s_poolTerminationGrace = TimeSpan.FromSeconds(30);
    private static readonly string[] s_poolCommands = ["demo", "bench-pool"];

    private static volatile bool s_interrupted;

    /// <summary>
    /// Called by a command whose background threads may be inside libtorch (a node: device probes, layers loading,
    /// forwards) when Ctrl-C or SIGTERM cancels it: the process then ends with _exit once the command returned (see
    /// <see cref="MainAsync"/>).
    /// </summary>
    public static void InterruptedWithNativeWork() => s_interrupted = true;

    /// <summary>
    /// Runs the command line and ends the process with its exit code. After a command was interrupted with native work
    /// running (<see cref="InterruptedWithNativeWork"/>) the process ends at once (_exit): libtorch's static destructors,
    /// which a normal exit runs, crash under a thread still inside libtorch (SIGSEGV, exit code 139, seen when Ctrl-C
    /// came while a worker probed its device).
    /// </summary>
    public static async Task<int> MainAsync(string[] args)
    {
        int code = await RunAsync(args);
        if (s_interrupted && (OperatingSystem.IsLinux() || OperatingSystem.IsMacOS()))
        {
            Console.Out.Flush();
            Console.Error.Flush();
            ExitNow(code);
        }

        return code;
    }

    [LibraryImport("libc", EntryPoint = "_exit")]
    [SupportedOSPlatform("linux")]
    [SupportedOSPlatform("macos")]
    private static partial void ExitNow(int code);

    public static async Task<int> RunAsync(string[] args)
    {
        var root = new RootCommand("ActorLlm: run a Llama-family model on one machine or across a pool of machines.")
        {
            GenerateCommand.Create(),
            LogitsCommand.Create(),
            ScoreCommand.Create(),
            ConvertCommand.Create(),
            InfoCommand.Create(),
            BenchCommand.Create(),
            ConformanceCommand.Create(),
            NodeCommand.Create(),
            StatusCommand.Create(),
            DemoCommand.Create(),
            BenchPoolCommand.Create(),
            BenchVerifyCommand.Create(),
            BenchHopCommand.Create(),
            BenchClusterCommand.Create(),
            GraphCheckCommand.Create(),
            PoolCommand.Create(),
            QualityCommand.Create(),
            StreamedCheckCommand.Create(),
        };

        try
        {
            RawArguments.EnsureValidUtf8();
            var parsed = root.Parse(args);
            if (parsed.Errors.Count > 0)
            {
                foreach (var e in parsed.Errors)
                {
                    Console.Error.WriteLine($"error: {e.Message}");
                }

                Console.Error.WriteLine("run 'actorllm --help' for usage");
                return ExitUsage;
            }

            // Our own handler below turns expected failures into one clear line; System.CommandLine's would print a stack trace.
            // Ctrl-C and SIGTERM cancel the command; a pool (demo --serve) or a node then has time to stop its processes and leave.
            var grace = s_poolCommands.Contains(parsed.CommandResult.Command.Name) ? s_poolTerminationGrace : TerminationGrace;
            return await parsed.InvokeAsync(new InvocationConfiguration { EnableDefaultExceptionHandler = false, ProcessTerminationTimeout = grace });
        }
        catch (Exception e) when (e is InvalidRequestException or ModelFormatException or WireFormatException or IOException or UnauthorizedAccessException or TimeoutException or Cluster.Client.JobFailedException or Cluster.Weights.ModelBootstrapException or Http.GatewayException or Pool.NodeStartException)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return ExitError;
        }
        catch (HttpRequestException e)
        {
            Console.Error.WriteLine($"error: cannot reach the gateway: {e.Message}");
            return ExitError;
        }
        catch (TaskCanceledException e) when (e.InnerException is TimeoutException)
        {
            Console.Error.WriteLine("error: the gateway did not answer within --timeout");
            return ExitError;
        }
        catch (OperationCanceledException)
        {
            // Ctrl-C or SIGTERM while the command waited (a job on a pool, a request): not an error of the command.
            Console.Error.WriteLine("interrupted");
            return ExitInterrupted;
        }
        catch (Exception e) when (Environment.GetEnvironmentVariable("ACTORLLM_DEBUG") is null)
        {
            // Unexpected: still one line (set ACTORLLM_DEBUG=1 for the stack trace).
            Console.Error.WriteLine($"error: {e.GetType().Name}: {e.Message}");
            return ExitError;
        }
    }
}
