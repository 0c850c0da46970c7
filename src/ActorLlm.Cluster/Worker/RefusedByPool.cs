using Akka.Actor;

namespace ActorLlm.Cluster.Worker;

/// <summary>
/// Why a worker's node shut down: the pool refused it for good (its store holds another model). The process exits
/// with <see cref="ExitCode"/> 1, so a supervisor (systemd, a compose restart policy) sees a failure, not a clean stop.
/// </summary>
public sealed class RefusedByPool : CoordinatedShutdown.Reason
{
    public static readonly RefusedByPool Instance = new();

    private RefusedByPool()
    {
    }

    public override int ExitCode => 1;

    public override string ToString() => "the pool refused this worker";
}
