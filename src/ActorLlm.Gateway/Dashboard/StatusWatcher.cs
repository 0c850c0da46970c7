using ActorLlm.Cluster.Hosting;
using ActorLlm.Protocol.Messages;
using Akka.Actor;
using Akka.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace ActorLlm.Gateway.Dashboard;

/// <summary>The pool's status as one poll left it: the status (null until the coordinator first answered) and why the last poll failed, if it did.</summary>
/// <param name="Poll">Counts polls, answered or not (the live feed sends each once).</param>
public sealed record WatchedStatus(long Poll, DateTimeOffset At, StatusMessages.ClusterStatus? Status, string? Unavailable);

/// <summary>
/// Polls the placement coordinator's status every <c>http.status-interval</c> for the whole gateway (however many
/// dashboards are open): keeps the latest for the live feed, turns what changed into pool events
/// (<see cref="StatusDiff"/>), and updates the metrics. Also starts the <see cref="ClusterEventsActor"/>. A
/// coordinator that does not answer (starting, moving) is one event, and the polls go on.
/// </summary>
public sealed class StatusWatcher(IServiceProvider services, HttpSettings http, EventRing ring, ApiMetrics metrics, ILogger<StatusWatcher> log) : BackgroundService
{
    private static readonly TimeSpan s_askTimeout = TimeSpan.FromSeconds(5);
    private readonly Lock _lock = new();
    private WatchedStatus _latest = new(0, DateTimeOffset.UtcNow, null, null);
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private IActorRef? _events;
    private ActorSystem? _system;

    public WatchedStatus Latest
    {
        get
        {
            lock (_lock)
            {
                return _latest;
            }
        }
    }

    /// <summary>Completes after the next poll.</summary>
    public Task Changed
    {
        get
        {
            lock (_lock)
            {
                return _changed.Task;
            }
        }
    }

    /// <summary>The machine whose devices live at a node address, as the latest status says.</summary>
    public string? MachineOf(string address) =>
        Latest.Status?.Devices.FirstOrDefault(d => d.Device.Node.Value == address)?.Device.Machine;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        ring.Add(PoolEventKind.Info, $"gateway started; polling the pool's status every {http.StatusInterval.TotalSeconds:0.###} s");
        try
        {
            _system = services.GetRequiredService<ActorSystem>();
            _events = _system.ActorOf(Props.Create(() => new ClusterEventsActor(ring, MachineOf, metrics)), "dashboard-events");
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            log.LogWarning(e, "dashboard: cannot follow cluster events");
        }

        using var timer = new PeriodicTimer(http.StatusInterval);
        do
        {
            await PollAsync(stoppingToken);
        }
        while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false));
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken);
        if (_events is not null)
        {
            _system?.Stop(_events);
        }
    }

    private async Task PollAsync(CancellationToken cancel)
    {
        StatusMessages.ClusterStatus? status = null;
        string? failure = null;
        try
        {
            var coordinator = services.GetRequiredService<ActorRegistry>().Get<CoordinatorKey>();
            status = await coordinator.Ask<StatusMessages.ClusterStatus>(new StatusMessages.GetClusterStatus(), s_askTimeout, cancel).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancel.IsCancellationRequested)
        {
            return;
        }
        catch (Exception e)
        {
            failure = e is AskTimeoutException ? "the placement coordinator did not answer (it may be starting or moving)" : $"cannot ask the placement coordinator: {e.Message}";
        }

        var before = Latest;
        if (status is not null)
        {
            if (before.Unavailable is not null)
            {
                ring.Add(PoolEventKind.Info, "the placement coordinator answers again");
            }

            try
            {
                var changes = StatusDiff.Between(before.Status, status);
                foreach (var c in changes)
                {
                    ring.Add(c.Kind, c.Message);
                }

                metrics.Status(status, changes);
            }
            catch (Exception e)
            {
                // A status the diff cannot read must not stop the watching: it is logged and still shown.
                log.LogWarning(e, "dashboard: cannot compare pool statuses");
            }
        }
        else
        {
            metrics.StatusFailed();
            if (before.Unavailable is null)
            {
                ring.Add(PoolEventKind.Info, failure!);
            }
        }

        TaskCompletionSource changed;
        lock (_lock)
        {
            _latest = new WatchedStatus(before.Poll + 1, DateTimeOffset.UtcNow, status ?? before.Status, failure);
            changed = _changed;
            _changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }

        changed.TrySetResult();
    }
}
