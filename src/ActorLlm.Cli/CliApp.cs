using System.CommandLine;
using ActorLlm.Cli.Commands;
using ActorLlm.Inference;
using ActorLlm.Protocol;

namespace ActorLlm.Cli;

/// <summary>The <c>actorllm</c> command line: results on stdout, diagnostics and errors on stderr.</summary>
public static class CliApp
{
    public const int ExitOk = 0;
    public const int ExitError = 1;
    public const int ExitUsage = 2;

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
            return await parsed.InvokeAsync(new InvocationConfiguration { EnableDefaultExceptionHandler = false, ProcessTerminationTimeout = TimeSpan.FromSeconds(30) });
        }
        catch (Exception e) when (e is InvalidRequestException or ModelFormatException or WireFormatException or IOException or UnauthorizedAccessException or TimeoutException or Cluster.Client.JobFailedException or Cluster.Weights.ModelBootstrapException or Http.GatewayException)
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
        catch (Exception e) when (Environment.GetEnvironmentVariable("ACTORLLM_DEBUG") is null)
        {
            // Unexpected: still one line (set ACTORLLM_DEBUG=1 for the stack trace).
            Console.Error.WriteLine($"error: {e.GetType().Name}: {e.Message}");
            return ExitError;
        }
    }
}
