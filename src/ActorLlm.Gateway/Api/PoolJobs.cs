using System.Threading.Channels;
using ActorLlm.Cluster.Hosting;
using ActorLlm.Cluster.Session;
using ActorLlm.Protocol;
using ActorLlm.Protocol.Messages;
using ActorLlm.Protocol.Serialization;
using Akka.Actor;
using Microsoft.AspNetCore.Http;

namespace ActorLlm.Gateway.Api;

/// <summary>What a running HTTP job hears from its session, tagged with the request's choice index.</summary>
public abstract record JobEvent(int Choice)
{
    public sealed record Routed(int Choice, JobMessages.JobRouted Route) : JobEvent(Choice);

    public sealed record Text(int Choice, JobMessages.TextDelta Delta) : JobEvent(Choice);

    public sealed record Generated(int Choice, JobMessages.GenerationCompleted Result) : JobEvent(Choice);

    public sealed record Scored(int Choice, JobMessages.ScoringCompleted Result) : JobEvent(Choice);

    public sealed record Failed(int Choice, JobMessages.JobFailed Failure) : JobEvent(Choice);

    /// <summary>Whether this ends its choice's job.</summary>
    public bool Final => this is Generated or Scored or Failed;
}

/// <summary>
/// Submits HTTP requests' jobs to the pool through this gateway's session shard region, the way a cluster member
/// does, without a client joining the cluster: each job's client is a local listener actor that writes what the
/// session says into one channel per request. Disposing a request's <see cref="Jobs"/> stops its listeners, and a
/// session whose client is gone stops its job and frees every stage's cache (a client that disconnects mid-stream
/// costs the pool nothing more). Also the gateway's admission: at most <see cref="HttpSettings.MaxJobs"/> jobs at once.
/// </summary>
public sealed class PoolJobs(ActorSystem system, IActorRef sessions, IActorRef routes, HttpSettings settings, WireLimits wire)
{
    private readonly ActorSystem _system = system;
    private int _running;

    /// <summary>Jobs running for HTTP clients now.</summary>
    public int Running => Volatile.Read(ref _running);

    /// <summary>
    /// Fails with 503 when no route covers the model yet (so a request does not wait out a session's route wait on a
    /// pool still placing its layers).
    /// </summary>
    public async Task RequireRouteAsync(CancellationToken cancel)
    {
        PlacementMessages.RouteTable table;
        try
        {
            table = await routes.Ask<PlacementMessages.RouteTable>(RouteCache.GetTable.Instance, TimeSpan.FromSeconds(5), cancel).ConfigureAwait(false);
        }
        catch (AskTimeoutException)
        {
            throw Unavailable("the gateway's route cache did not answer");
        }

        if (table.UnitCount < 1 || RouteSelection.Select(table.Stages, table.UnitCount, new HashSet<DeviceKey>(), _ => 0) is null)
        {
            throw Unavailable($"no route covers the model yet ({PlacementStatuses.Describe(table.Status, table.Loading)}); the pool is still placing its layers");
        }
    }

    /// <summary>
    /// Starts one job per element of <paramref name="starts"/> (given each its listener, the job's client), or refuses
    /// with 429 when that would run more than the gateway's limit.
    /// </summary>
    public Jobs Start(IReadOnlyList<Func<IActorRef, object>> starts)
    {
        // A job the session's node would refuse on arrival (the session shard may live on another gateway, where the
        // message is dropped with a log line and the client would wait for nothing) is refused here with the limit.
        foreach (var start in starts)
        {
            try
            {
                WireValidation.Validate(start(ActorRefs.Nobody), wire);
            }
            catch (WireFormatException e)
            {
                throw ApiException.BadRequest($"the request is too large for the pool: {e.Message}", code: "request_too_large");
            }
        }

        int n = starts.Count;
        if (Interlocked.Add(ref _running, n) > settings.MaxJobs)
        {
            Interlocked.Add(ref _running, -n);
            throw new ApiException(StatusCodes.Status429TooManyRequests, $"this gateway is running its limit of {settings.MaxJobs} jobs; retry shortly", ApiException.RateLimit, code: "rate_limit_exceeded")
            {
                RetryAfterSeconds = RetryAfterSeconds,
            };
        }

        var channel = Channel.CreateUnbounded<JobEvent>(new UnboundedChannelOptions { SingleReader = true });
        var listeners = new IActorRef[n];
        for (int i = 0; i < n; i++)
        {
            int choice = i;
            listeners[i] = _system.ActorOf(Props.Create(() => new HttpJobListener(choice, channel.Writer)));
            sessions.Tell(starts[i](listeners[i]));
        }

        return new Jobs(this, channel.Reader, listeners);
    }

    private int RetryAfterSeconds => (int)Math.Ceiling(settings.RetryAfter.TotalSeconds);

    private ApiException Unavailable(string message) =>
        new(StatusCodes.Status503ServiceUnavailable, message, ApiException.Unavailable, code: "no_route") { RetryAfterSeconds = RetryAfterSeconds };

    /// <summary>A request's jobs: their events, and their end (disposing stops any still running).</summary>
    public sealed class Jobs : IDisposable
    {
        private readonly PoolJobs _owner;
        private readonly IActorRef[] _listeners;
        private int _disposed;

        internal Jobs(PoolJobs owner, ChannelReader<JobEvent> events, IActorRef[] listeners)
        {
            _owner = owner;
            Events = events;
            _listeners = listeners;
        }

        public ChannelReader<JobEvent> Events { get; }

        public int Count => _listeners.Length;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 1)
            {
                return;
            }

            // A listener that already heard its job's end has stopped itself; stopping it again is a no-op.
            foreach (var listener in _listeners)
            {
                _owner._system.Stop(listener);
            }

            Interlocked.Add(ref _owner._running, -_listeners.Length);
        }
    }

    /// <summary>
    /// One job's client on the gateway. Deltas arrive in order (one session sends them all to this one actor); one out
    /// of sequence means text was lost, and the job fails saying so rather than answering with a hole.
    /// </summary>
    private sealed class HttpJobListener : ReceiveActor
    {
        private int _next;

        public HttpJobListener(int choice, ChannelWriter<JobEvent> events)
        {
            Receive<JobMessages.JobRouted>(r => events.TryWrite(new JobEvent.Routed(choice, r)));
            Receive<JobMessages.TextDelta>(d =>
            {
                if (d.Sequence != _next)
                {
                    End(events, new JobEvent.Failed(choice, new JobMessages.JobFailed(d.Session, $"text delta {d.Sequence} arrived where {_next} was due: streamed text was lost")));
                    return;
                }

                _next++;
                events.TryWrite(new JobEvent.Text(choice, d));
            });
            Receive<JobMessages.GenerationCompleted>(c => End(events, new JobEvent.Generated(choice, c)));
            Receive<JobMessages.ScoringCompleted>(c => End(events, new JobEvent.Scored(choice, c)));
            Receive<JobMessages.JobFailed>(f => End(events, new JobEvent.Failed(choice, f)));
        }

        private static void End(ChannelWriter<JobEvent> events, JobEvent last)
        {
            events.TryWrite(last);
            Context.Stop(Context.Self);
        }
    }
}
