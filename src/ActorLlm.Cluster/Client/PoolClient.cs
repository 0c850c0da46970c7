using ActorLlm.Cluster.Hosting;
using ActorLlm.Protocol;
using ActorLlm.Protocol.Messages;
using ActorLlm.Protocol.Serialization;
using Akka.Actor;
using Akka.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace ActorLlm.Cluster.Client;

/// <summary>The pool refused or failed a job.</summary>
public sealed class JobFailedException(string reason) : Exception(reason);

/// <summary>
/// A plain client process's connection to a pool: it joins the cluster (no roles) through a seed, submits jobs to
/// GenerationSessions through the session shard region, and asks the placement coordinator for the status.
/// </summary>
public sealed class PoolClient : IAsyncDisposable
{
    private readonly IHost _host;
    private readonly ActorSystem _system;
    private readonly IActorRef _sessions;
    private readonly IActorRef _coordinator;
    private readonly ClientSettings _settings;
    private readonly WireLimits _wire;

    private PoolClient(IHost host, ActorSystem system, IActorRef sessions, IActorRef coordinator, ClientSettings settings, WireLimits wire)
    {
        _wire = wire;
        _host = host;
        _system = system;
        _sessions = sessions;
        _coordinator = coordinator;
        _settings = settings;
    }

    /// <summary>
    /// Joins the pool whose seed is <paramref name="seed"/> ("host:port") and waits until this node is a member.
    /// <paramref name="settings"/> are more path → value settings, e.g. the pool's actorllm.tls.* (TLS is on by default:
    /// a client needs credentials, or actorllm.tls.enabled = off for a plain local pool).
    /// </summary>
    public static async Task<PoolClient> ConnectAsync(
        string seed, TimeSpan timeout, string bindHost = "127.0.0.1", CancellationToken cancel = default, IReadOnlyDictionary<string, string>? settings = null)
    {
        var overrides = new Dictionary<string, string>
        {
            ["actorllm.node.roles"] = "",
            ["actorllm.node.seeds"] = seed,
            ["actorllm.node.host"] = bindHost,
            ["actorllm.node.port"] = "0",
            // A client lives for one command; connection warnings about members that come and go are noise on its stderr.
            ["akka.loglevel"] = "ERROR",
        };
        foreach (var (path, value) in settings ?? new Dictionary<string, string>())
        {
            overrides[path] = value;
        }

        var node = ActorLlmSettings.From(ActorLlmConfig.Build(null, overrides, _ => null));
        var resources = NodeResources.Prepare(node);
        var host = new HostBuilder()
            .ConfigureLogging(l => l.AddActorLlmConsole(node.Log).AddFilter("Microsoft.Extensions.Hosting", LogLevel.None))
            .ConfigureServices(s => s.AddAkka(ActorLlmSettings.SystemName, b => b.WithActorLlm(node, resources)))
            .Build();
        await host.StartAsync(cancel).ConfigureAwait(false);
        var system = host.Services.GetRequiredService<ActorSystem>();
        var up = new TaskCompletionSource();
        Akka.Cluster.Cluster.Get(system).RegisterOnMemberUp(() => up.TrySetResult());
        if (await Task.WhenAny(up.Task, Task.Delay(timeout, cancel)).ConfigureAwait(false) != up.Task)
        {
            await host.StopAsync(CancellationToken.None).ConfigureAwait(false);
            host.Dispose();
            throw new TimeoutException($"could not join the pool at {seed} within {timeout.TotalSeconds:F0} s (is a gateway running there?)");
        }

        var registry = host.Services.GetRequiredService<ActorRegistry>();
        return new PoolClient(host, system, registry.Get<SessionRegionKey>(), registry.Get<CoordinatorKey>(), node.Client, node.Wire);
    }

    /// <summary>This client's actor system (a cluster member: what it may tell the cluster depends on its certificate).</summary>
    public ActorSystem ActorSystem => _system;

    /// <summary>
    /// Generates from <paramref name="prompt"/>, calling <paramref name="onText"/> with each piece of text as it arrives
    /// and <paramref name="onRouted"/> when the job is routed (at the start and after each failover).
    /// </summary>
    public async Task<JobMessages.GenerationCompleted> GenerateAsync(
        string prompt, WireGenerationOptions options, Action<string>? onText, TimeSpan timeout, Action<JobMessages.JobRouted>? onRouted = null)
    {
        var result = await Submit(client => new JobMessages.StartGeneration(SessionId.New(), System.Text.Encoding.UTF8.GetBytes(prompt), options, client), onText, onRouted, timeout).ConfigureAwait(false);
        return result as JobMessages.GenerationCompleted ?? throw Failure(result);
    }

    /// <summary>Scores each choice as a continuation of <paramref name="prompt"/>; best first.</summary>
    public async Task<JobMessages.ScoringCompleted> ScoreAsync(string prompt, IReadOnlyList<string> choices, TimeSpan timeout)
    {
        var result = await Submit(client => new JobMessages.StartScoring(SessionId.New(), System.Text.Encoding.UTF8.GetBytes(prompt), [.. choices], client), null, null, timeout).ConfigureAwait(false);
        return result as JobMessages.ScoringCompleted ?? throw Failure(result);
    }

    public Task<StatusMessages.ClusterStatus> StatusAsync(TimeSpan timeout) =>
        _coordinator.Ask<StatusMessages.ClusterStatus>(new StatusMessages.GetClusterStatus(), timeout);

    /// <summary>Polls the status until <paramref name="ready"/> holds (e.g. a complete placement); the last status either way.</summary>
    public async Task<StatusMessages.ClusterStatus> WaitForAsync(Func<StatusMessages.ClusterStatus, bool> ready, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        StatusMessages.ClusterStatus? last = null;
        while (DateTime.UtcNow < deadline)
        {
            try
            {
                last = await StatusAsync(_settings.StatusTimeout).ConfigureAwait(false);
                if (ready(last))
                {
                    return last;
                }
            }
            catch (AskTimeoutException)
            {
                // The coordinator singleton may still be starting.
            }

            await Task.Delay(_settings.StatusPollInterval).ConfigureAwait(false);
        }

        throw new TimeoutException($"the pool was not ready within {timeout.TotalSeconds:F0} s: {(last is null ? "no status" : PlacementStatuses.Describe(last.PlacementStatus, last.Loading))}");
    }

    private async Task<object> Submit(Func<IActorRef, object> job, Action<string>? onText, Action<JobMessages.JobRouted>? onRouted, TimeSpan timeout)
    {
        var done = new TaskCompletionSource<object>(TaskCreationOptions.RunContinuationsAsynchronously);
        var listener = _system.ActorOf(Props.Create(() => new JobListener(onText, onRouted, done)));
        var message = job(listener);
        try
        {
            // What the session's node would refuse on arrival (and only log), refused here at once with the limit.
            WireValidation.Validate(message, _wire);
        }
        catch (WireFormatException e)
        {
            _system.Stop(listener);
            throw new JobFailedException($"the job was not sent: {e.Message}");
        }

        _sessions.Tell(message);
        if (await Task.WhenAny(done.Task, Task.Delay(timeout)).ConfigureAwait(false) != done.Task)
        {
            _system.Stop(listener);
            throw new TimeoutException($"the job did not finish within {timeout.TotalSeconds:F0} s");
        }

        return done.Task.Result;
    }

    private static JobFailedException Failure(object result) =>
        new(result is JobMessages.JobFailed f ? f.Reason : $"unexpected answer {result.GetType().Name}");

    /// <summary>Leaves the pool gracefully.</summary>
    public async ValueTask DisposeAsync()
    {
        await _host.StopAsync(CancellationToken.None).ConfigureAwait(false);
        _host.Dispose();
    }
}
