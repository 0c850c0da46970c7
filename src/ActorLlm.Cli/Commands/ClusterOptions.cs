using System.CommandLine;

namespace ActorLlm.Cli.Commands;

/// <summary>Options of commands that talk to a pool.</summary>
public static class ClusterOptions
{
    /// <summary>A pool's front door: the gateway's HTTP API (the client does not join the cluster).</summary>
    public static Option<string?> Cluster(bool required = false) => new("--cluster")
    {
        Description = "URL of a pool's gateway (http://host:port, as the node prints it) to submit to, instead of running the model here",
        Required = required,
    };

    /// <summary>The API key for <see cref="Cluster"/>; default: $ACTORLLM_API_KEY, else $OPENAI_API_KEY.</summary>
    public static Option<string?> ApiKey() => new("--api-key")
    {
        Description = "API key of the gateway (default: $ACTORLLM_API_KEY, else $OPENAI_API_KEY); prefer the variable, a command line is visible to other users",
    };

    /// <summary>Benchmarks that measure the pool itself join it as a member (no HTTP in the way).</summary>
    public static Option<string?> Seed(bool required = false) => new("--cluster")
    {
        Description = "host:port of a pool node (a seed); the benchmark joins the cluster as a member",
        Required = required,
    };

    public static Option<int> Timeout() => new("--timeout")
    {
        Description = "Seconds to wait for the pool and the job",
        DefaultValueFactory = _ => 300,
    };

    /// <summary>Options that choose a local model or device mean nothing on a pool: given with --cluster, they are an error.</summary>
    public static void RefuseLocalOptions(ParseResult parse, params Option[] local)
    {
        foreach (var option in local.Where(o => parse.GetResult(o) is { Implicit: false }))
        {
            throw new Inference.InvalidRequestException($"{option.Name} does not apply with --cluster: the pool serves its own model on its own devices");
        }
    }

    public static Http.GatewayClient Client(string url, string? key, int timeoutSeconds) =>
        new(url, key ?? Http.GatewayClient.KeyFromEnvironment(), TimeSpan.FromSeconds(timeoutSeconds));
}
