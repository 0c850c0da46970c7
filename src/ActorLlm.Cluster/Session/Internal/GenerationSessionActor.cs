using ActorLlm.Inference;
using ActorLlm.Protocol;
using ActorLlm.Protocol.Messages;
using Akka.Actor;
using Akka.Cluster.Sharding;
using Akka.Event;

namespace ActorLlm.Cluster.Session.Internal;

/// <summary>
/// See <see cref="GenerationSession"/>. Idle until a job starts, then running it (<see cref="ISessionJob"/>: a
/// generation or a scoring), then finished until the shard region stops it. What the job kinds share lives here:
/// the client, the route and its step numbers, the step and route-wait timers, statistics, failover (decided by
/// <see cref="FailoverPolicy"/>), releasing the stages' state, passivation; and verification of jobs through volunteers
/// (GenerationSessionActor.Audit.cs).
/// </summary>
internal sealed partial class GenerationSessionActor : ReceiveActor, IWithTimers
{
    private const string StepTimer = "step";
    private const string RouteWaitTimer = "route-wait";
    private const string AuditTimer = "audit";

    private readonly SessionContext _ctx;
    private readonly SessionId _id;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly HashSet<IActorRef> _used = [];
    private readonly JobStats _stats = new();
    private IActorRef _client = ActorRefs.Nobody;
    private IReadOnlyList<SessionId> _stageSessions = [];
    private FailoverPolicy.History _failovers = FailoverPolicy.History.None;
    private TimeSpan? _suspendedAt;

    // Null until a route is selected, while waiting for another after a failover, and once the job is over.
    private ActiveRoute? _route;

    // The step whose answers count. Each route, and each decode step on it, gets a new number, and so does the wait
    // for a route after a failover: an answer or a timeout carrying another number belongs to a step given up on.
    private long _step;

    // The job's routes use trusted devices only (ISessionJob.TrustedOnly).
    private bool _trustedOnly;

    private sealed record StepTimedOut(long Step);

    private sealed record RouteWaitOver;

    private sealed record AuditTimedOut(long Step);

    public GenerationSessionActor(SessionContext ctx)
    {
        _ctx = ctx;
        _id = new SessionId(Uri.UnescapeDataString(Self.Path.Name));
        Receive<JobMessages.StartGeneration>(g => Start(g.Client, () => GenerationJob.Create(_ctx, _id, g)));
        Receive<JobMessages.StartScoring>(s => Start(s.Client, () => ScoringJob.Create(_ctx, _id, s)));
        Receive<RouteCache.NodeSuspected>(_ => { });
    }

    public ITimerScheduler Timers { get; set; } = null!;

    protected override void PreStart() => Context.System.EventStream.Subscribe(Self, typeof(RouteCache.NodeSuspected));

    protected override void PostStop()
    {
        Context.System.EventStream.Unsubscribe(Self);
        ReleaseStages();
    }

    private void Start(IActorRef client, Func<ISessionJob> create)
    {
        _client = client;
        Context.Watch(client);
        _stats.Start();
        ISessionJob job;
        try
        {
            job = create();
        }
        catch (InvalidRequestException e)
        {
            Fail(e.Message, JobFailure.InvalidRequest);
            return;
        }

        _stageSessions = job.StageSessions;
        _generation = job as GenerationJob;
        _trustedOnly = job.TrustedOnly;
        Become(() => Running(job));
        if (job.Complete)
        {
            Complete(job);
            return;
        }

        AskRoute();
    }

    private void Running(ISessionJob job)
    {
        Receive<JobMessages.StartGeneration>(g => Refuse(g.Client));
        Receive<JobMessages.StartScoring>(s => Refuse(s.Client));

        // The audit route's answers, by its own stage session (before the job's handlers, which go by step number).
        Receive<StageMessages.Audited>(a => OnAudited(job, a));
        Receive<StageMessages.PrefillDone>(p => p.Session == _audit?.Session, _ => { });
        Receive<StageMessages.StageFailed>(f => f.Session == _audit?.Session, f =>
        {
            if (_audit?.InFlight is not null && f.Step == _audit.Step)
            {
                AuditLost(job, f.Reason, f.Stage);
            }
        });
        Receive<AuditTimedOut>(t =>
        {
            if (_audit?.InFlight is not null && t.Step == _audit.Step)
            {
                AuditLost(job, $"no answer within {_ctx.Settings.Verify.AuditTimeout}", null);
            }
        });
        Receive<RouteCache.Selected>(r => r.Audit, r => OnAuditRoute(r));
        Receive<RouteCache.NoAuditRoute>(_ => GiveUpAuditing(job, "no route of trusted devices covers the model"));

        Receive<RouteCache.Selected>(r => OnRoute(job, r));
        Receive<StageMessages.TokenSampled>(t => t.Step == _step, t =>
        {
            _stats.Sampled(t.Timings);
            if (_suspendedAt is TimeSpan since)
            {
                _log.Info("session {0}: resumed {1:F0} ms after the failure", _id, (_stats.Elapsed - since).TotalMilliseconds);
                _suspendedAt = null;
            }

            OnAnswer(job, t);
        });
        Receive<StageMessages.ChoiceScored>(s => s.Step == _step, s =>
        {
            _stats.Acknowledged(s.Timings);
            OnAnswer(job, s);
        });
        Receive<StageMessages.PrefillDone>(p => p.Step == _step, p =>
        {
            _stats.Acknowledged(p.Timings);

            // A chunk's acknowledgement is an answer: the step timeout bounds each wait, not a whole long prompt.
            ArmStepTimer();
        });

        // Answers of steps given up on are dropped; failures and timeouts of any step go to the policy, which knows
        // which ones still matter.
        Receive<StageMessages.TokenSampled>(_ => { });
        Receive<StageMessages.ChoiceScored>(_ => { });
        Receive<StageMessages.PrefillDone>(_ => { });
        Receive<StageMessages.StageFailed>(f => OnFailure(new FailoverPolicy.StageFailed(f.Step, f.Stage, f.Reason, f.Retryable)));
        Receive<StepTimedOut>(t => OnFailure(new FailoverPolicy.StepTimedOut(t.Step)));
        Receive<RouteCache.NodeSuspected>(s =>
        {
            if (_audit?.Route?.Entries.FirstOrDefault(e => e.Device.Node == s.Node) is { } lost)
            {
                AuditLost(job, $"{s.Node} {s.Why}", lost.Device.Key, mayRetry: false);
            }

            OnFailure(new FailoverPolicy.NodeSuspected(s.Node, s.Why));
        });
        Receive<RouteWaitOver>(_ => OnFailure(FailoverPolicy.RouteWaitOver.Instance));
        Receive<Terminated>(t => t.ActorRef.Equals(_client), _ =>
        {
            _log.Info("session {0}: client gone, stopping", _id);
            Finish();
        });
    }

    private void Refuse(IActorRef client) => client.Tell(new JobMessages.JobFailed(_id, "this session id is already running a job"));

    private void AskRoute()
    {
        _route = null;
        _ctx.RouteCache.Tell(new RouteCache.Select(_failovers.Excluded, TrustedOnly: _trustedOnly));
        Timers.StartSingleTimer(RouteWaitTimer, new RouteWaitOver(), _ctx.Settings.RouteWait);
    }

    private void OnRoute(ISessionJob job, RouteCache.Selected selected)
    {
        Timers.Cancel(RouteWaitTimer);
        var route = _route = new ActiveRoute(selected.Route);
        _client.Tell(new JobMessages.JobRouted(_id, _failovers.Failovers + 1, route.Labels(_ctx.Layers), route.Nodes));
        _used.UnionWith(route.Entries.Select(e => e.Worker));
        _step++;
        foreach (var f in job.Start(route.Steps(_step, Self)))
        {
            route.FirstStage.Tell(f, Self);
        }

        ArmStepTimer();
        WatchRoute(route);
    }

    /// <summary>An answer of the current step (so there is a route: no step is sent while waiting for one).</summary>
    private void OnAnswer(ISessionJob job, object answer)
    {
        var route = _route!;
        var next = route.Steps(_step + 1, Self);
        int sampledBefore = _generation?.Sampled ?? 0;
        var outcome = job.Accept(answer, next);
        if (_ctx.Settings.Verify.Enabled && _generation is { } g && g.Sampled > sampledBefore)
        {
            _producedBy.Add(_volunteers);
        }

        switch (outcome)
        {
            case JobAnswer.Unusable u:
                Fail(u.Reason);
                break;
            case JobAnswer.Waiting:
                ArmStepTimer();
                break;
            case JobAnswer.Continue c:
                Stream(c.Text);
                _step = next.Step;
                route.FirstStage.Tell(c.Next, Self);
                ArmStepTimer();
                Audit(job);
                break;
            case JobAnswer.Continuing c:
                Stream(c.Text);
                ArmStepTimer();
                Audit(job);
                break;
            case JobAnswer.Completed c:
                Stream(c.Text);
                if (Audited)
                {
                    // The end waits for the audit of the last tokens (which may yet send the job back).
                    _endPending = true;
                    Timers.Cancel(StepTimer);
                    Audit(job);
                    break;
                }

                Complete(job);
                break;
            case JobAnswer.NotMine:
                break;
        }
    }

    private void Send(IEnumerable<JobMessages.TextDelta> text)
    {
        foreach (var delta in text)
        {
            _client.Tell(delta);
        }
    }

    private void OnFailure(FailoverPolicy.Failure failure)
    {
        if (_endPending)
        {
            // The route's work is done; only the audit of its last tokens is awaited.
            return;
        }

        var now = new FailoverPolicy.Situation(_step, _route?.Devices);
        switch (FailoverPolicy.Decide(failure, now, _failovers, _ctx.Settings))
        {
            case FailoverPolicy.GiveUp g:
                Fail(g.Reason, g.Kind);
                break;
            case FailoverPolicy.Failover f:
                Failover(f);
                break;
            case FailoverPolicy.Ignore:
                break;
        }
    }

    /// <summary>Leaves the current route and asks for one avoiding the lost devices; the job replays on it.</summary>
    private void Failover(FailoverPolicy.Failover decision)
    {
        _failovers = decision.History;
        _suspendedAt ??= _stats.Elapsed;
        _log.Warning("session {0}: failover {1} ({2})", _id, _failovers.Failovers, decision.Reason);
        Timers.Cancel(StepTimer);
        _step++;
        if (_route is not null)
        {
            _ctx.RouteCache.Tell(new RouteCache.Done(_route.Entries));

            // Steps of the route left behind (a ring above all, which would otherwise keep going on its own) are
            // dropped where they arrive; their caches stay until the job ends, as a replay may share a stage.
            foreach (var worker in _route.Entries.Select(e => e.Worker).Distinct())
            {
                // Not the audit's stage session: its steps are numbered apart, and its route is not left.
                foreach (var s in _stageSessions.Where(s => s != _audit?.Session))
                {
                    worker.Tell(new StageMessages.Supersede(s, _step));
                }
            }
        }

        AskRoute();
    }

    private void ArmStepTimer() => Timers.StartSingleTimer(StepTimer, new StepTimedOut(_step), _ctx.Settings.StepTimeout);

    private void Complete(ISessionJob job)
    {
        _client.Tell(job.Result(_stats.Report(_route?.Labels(_ctx.Layers) ?? [], _failovers.Failovers)));
        Finish();
    }

    private void Fail(string reason, JobFailure kind = JobFailure.Failed)
    {
        _log.Info("session {0}: failed: {1}", _id, reason);
        _client.Tell(new JobMessages.JobFailed(_id, reason, kind));
        Finish();
    }

    private void Finish()
    {
        Timers.CancelAll();
        _ctx.RouteCache.Tell(RouteCache.CancelSelect.Instance);
        if (_route is not null)
        {
            _ctx.RouteCache.Tell(new RouteCache.Done(_route.Entries));
        }

        if (_audit?.Route is { } auditRoute)
        {
            _ctx.RouteCache.Tell(new RouteCache.Done(auditRoute.Entries));
            _audit.Route = null;
        }

        if (_audit is { Checked: > 0 } done)
        {
            _log.Info("session {0}: {1} tokens audited, {2} verified", _id, done.Checked, done.Verified);
        }

        ReleaseStages();
        _route = null;
        Context.Parent.Tell(new Passivate(PoisonPill.Instance));

        // Over until the region stops this entity: answers still in flight (the next prompt chunk's refusal, a late
        // token) must not end the job a second time (a second JobFailed, a second Passivate); a new job under this
        // id is refused as while it ran.
        Become(() =>
        {
            Receive<JobMessages.StartGeneration>(g => Refuse(g.Client));
            Receive<JobMessages.StartScoring>(s => Refuse(s.Client));
            ReceiveAny(_ => { });
        });
    }

    private void ReleaseStages()
    {
        foreach (var worker in _used)
        {
            foreach (var s in _stageSessions)
            {
                worker.Tell(new StageMessages.ReleaseSession(s));
            }
        }

        _used.Clear();
    }
}
