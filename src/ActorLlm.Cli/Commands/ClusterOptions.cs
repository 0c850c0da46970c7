using System.CommandLine;

namespace ActorLlm.Cli.Commands;

/// <summary>Options of commands that talk to a pool.</summary>
public static class ClusterOptions
{
    public static Option<string?> Cluster(bool required = false) => new("--cluster")
    {
        Description = "host:port of a pool node (a seed) to submit to, instead of running the model here",
        Required = required,
    };

    public static Option<int> Timeout() => new("--timeout")
    {
        Description = "Seconds to wait for the pool and the job",
        DefaultValueFactory = _ => 300,
    };
}
