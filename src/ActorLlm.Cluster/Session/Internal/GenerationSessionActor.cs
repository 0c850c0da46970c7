using System.Diagnostics;
using ActorLlm.Inference;
using ActorLlm.Inference.Generation;
using ActorLlm.Protocol;
using ActorLlm.Protocol.Messages;
using Akka.Actor;
using Akka.Cluster.Sharding;
using Akka.Event;

namespace ActorLlm.Cluster.Session.Internal;

/// <summary>See <see cref="GenerationSession"/>. Generation and scoring share routing, replay and failover.</summary>
internal sealed class GenerationSessionActor : ReceiveActor, IWithTimers
{
    private readonly SessionContext _ctx;
    private readonly SessionId _id;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly HashSet<DeviceKey> _excluded = [];
    private readonly HashSet<IActorRef> _used = [];
    private readonly List<string> _failures = [];
    private readonly Stopwatch _clock = new();
    private readonly JobStats _stats = new();
    private IActorRef _client = ActorRefs.Nobody;
    private IReadOnlyList<RouteEntry>? _route;

    // The route as message hops, built once per route (not per token): all of them, and all but the first.
    private RouteHop[] _hops = [];
    private RouteHop[] _rest = [];
    private long _step;
    private int _failovers;
    private bool _started;
    private TimeSpan? _prefillDone;
    private TimeSpan? _suspendedAt;

    // A generation job.
    private GenerationProgress? _progress;
    private WireSampling _sampling = WireSampling.Greedy;
    private int _sequence;

    // A scoring job.
    private ScoringJob? _scoring;

    private sealed record StepTimedOut(long Step);

    private sealed record RouteWaitOver;

    public GenerationSessionActor(SessionContext ctx)
    {
        _ctx = ctx;
        _id = new SessionId(Uri.UnescapeDataString(Self.Path.Name));
        Receive<JobMessages.StartGeneration>(StartGeneration);
        Receive<JobMessages.StartScoring>(StartScoring);
        Receive<RouteCache.Selected>(OnRoute);
        Receive<RouteWaitOver>(_ => Fail($"no complete route to the model within {_ctx.Settings.RouteWait} ({string.Join("; ", _failures.DefaultIfEmpty("placement not ready"))})"));
        Receive<StageMessages.TokenSampled>(t => t.Step == _step, OnToken);
        Receive<StageMessages.PrefillDone>(p => p.Step == _step, p =>
        {
            _stats.Add(p.Timings, decode: false);

            // A chunk's acknowledgement is an answer: the step timeout bounds each wait, not a whole long prompt.
            ArmStepTimer();
        });
        Receive<StageMessages.ChoiceScored>(s => s.Step == _step, OnScored);
        Receive<StageMessages.StageFailed>(f => f.Step == _step, OnStageFailed);
        Receive<StepTimedOut>(t => t.Step == _step && _route is not null, _ => Failover($"no answer within {_ctx.Settings.StepTimeout}", _route!.Select(e => e.Device.Key)));
        Receive<RouteCache.NodeSuspected>(OnSuspected);
        Receive<Terminated>(t => t.ActorRef.Equals(_client), _ =>
        {
            _log.Info("session {0}: client gone, stopping", _id);
            Finish();
        });

        // Late answers from a route given up on, and steps of other kinds, are dropped.
        Receive<StageMessages.TokenSampled>(_ => { });
        Receive<StageMessages.PrefillDone>(_ => { });
        Receive<StageMessages.ChoiceScored>(_ => { });
        Receive<StageMessages.StageFailed>(_ => { });
        Receive<StepTimedOut>(_ => { });
    }

    public ITimerScheduler Timers { get; set; } = null!;

    protected override void PreStart() => Context.System.EventStream.Subscribe(Self, typeof(RouteCache.NodeSuspected));

    protected override void PostStop()
    {
        Context.System.EventStream.Unsubscribe(Self);
        ReleaseStages();
    }

    private bool Begin(IActorRef client)
    {
        if (_started)
        {
            client.Tell(new JobMessages.JobFailed(_id, "this session id is already running a job"));
            return false;
        }

        _started = true;
        _client = client;
        Context.Watch(client);
        _clock.Start();
        return true;
    }

    private void StartGeneration(JobMessages.StartGeneration g)
    {
        if (!Begin(g.Client))
        {
            return;
        }

        try
        {
            int[] ids = Prompt.EncodeUtf8(_ctx.Tokenizer, g.PromptUtf8);
            _progress = new GenerationProgress(_ctx.Tokenizer, ids, WireOptions.ToOptions(g.Options), _ctx.ContextLimit);
            _sampling = g.Options.Sampling;
        }
        catch (InvalidRequestException e)
        {
            Fail(e.Message);
            return;
        }

        if (_progress.Done)
        {
            Complete();
            return;
        }

        AskRoute();
    }

    private void StartScoring(JobMessages.StartScoring s)
    {
        if (!Begin(s.Client))
        {
            return;
        }

        try
        {
            _scoring = ScoringJob.Create(_ctx.Tokenizer, s.PromptUtf8, s.Choices, _ctx.ContextLimit, _id);
        }
        catch (InvalidRequestException e)
        {
            Fail(e.Message);
            return;
        }

        AskRoute();
    }

    private void AskRoute()
    {
        _route = null;
        _ctx.RouteCache.Tell(new RouteCache.Select(_excluded.ToHashSet()));
        Timers.StartSingleTimer("route-wait", new RouteWaitOver(), _ctx.Settings.RouteWait);
    }

    private void OnRoute(RouteCache.Selected selected)
    {
        Timers.Cancel("route-wait");
        _route = selected.Route;
        _hops = RouteSelection.Hops(_route);
        _rest = _hops[1..];
        _client.Tell(new JobMessages.JobRouted(
            _id,
            _failovers + 1,
            [.. _route.Select(e => RouteSelection.Label(e, _ctx.Layers))],
            [.. _route.Select(e => e.Device.Node)]));
        foreach (var e in _route)
        {
            _used.Add(e.Worker);
        }

        _step++;
        if (_scoring is not null)
        {
            foreach (var f in _scoring.Steps(_step, _hops, Self))
            {
                _route[0].Worker.Tell(f, Self);
            }
        }
        else
        {
            // From position 0: a first run is the prefill; after a failover it replays everything generated so far
            // through the new route, whose last chunk samples the next token exactly as the lost route would have.
            int chunk = StepPlan.ChunkTokens(_ctx.Settings.PrefillChunk, _ctx.HiddenSize, _ctx.MaxPayloadBytes);
            foreach (var f in StepPlan.Run(_id, _step, _hops, 0, _progress!.Tokens, chunk, _sampling, Self, StepKind.Generate))
            {
                _route[0].Worker.Tell(f, Self);
            }
        }

        ArmStepTimer();
    }

    private void OnToken(StageMessages.TokenSampled t)
    {
        var progress = _progress!;
        _stats.Add(t.Timings, decode: _prefillDone is not null);
        if (_prefillDone is null)
        {
            _prefillDone = _clock.Elapsed;
        }

        if (_suspendedAt is TimeSpan since)
        {
            _log.Info("session {0}: resumed {1:F0} ms after the failure", _id, (_clock.Elapsed - since).TotalMilliseconds);
            _suspendedAt = null;
        }

        string delta;
        try
        {
            delta = progress.Accept(t.Token);
        }
        catch (InvalidRequestException e)
        {
            // E.g. a model whose vocabulary is padded beyond the tokenizer's emitted an id the tokenizer lacks.
            Fail($"cannot decode token {t.Token}: {e.Message}");
            return;
        }

        if (delta.Length > 0)
        {
            _client.Tell(new JobMessages.TextDelta(_id, _sequence++, delta));
        }

        if (progress.Done)
        {
            Complete();
            return;
        }

        _step++;
        _hops[0].Worker.Tell(StepPlan.Next(_id, _step, _hops, _rest, t.Position, t.Token, _sampling, Self), Self);
        ArmStepTimer();
    }

    private void OnScored(StageMessages.ChoiceScored s)
    {
        _stats.Add(s.Timings, decode: false);
        if (_scoring!.Record(s) && _scoring.Complete)
        {
            _client.Tell(new JobMessages.ScoringCompleted(_id, _scoring.Results()));
            Finish();
        }
        else
        {
            ArmStepTimer();
        }
    }

    private void OnStageFailed(StageMessages.StageFailed f)
    {
        if (!f.Retryable)
        {
            Fail(f.Reason);
            return;
        }

        Failover(f.Reason, [f.Stage]);
    }

    private void OnSuspected(RouteCache.NodeSuspected s)
    {
        var lost = _route?.Where(e => e.Device.Node == s.Node).Select(e => e.Device.Key).ToList();
        if (lost is { Count: > 0 })
        {
            Failover($"{s.Node} {s.Why}", lost);
        }
    }

    /// <summary>Routes around <paramref name="devices"/> and replays the job through the new route.</summary>
    private void Failover(string reason, IEnumerable<DeviceKey> devices)
    {
        _failovers++;
        _failures.Add(reason);
        _suspendedAt ??= _clock.Elapsed;
        if (_failovers > _ctx.Settings.MaxFailovers)
        {
            Fail($"gave up after {_ctx.Settings.MaxFailovers} failovers: {string.Join("; ", _failures)}");
            return;
        }

        _log.Warning("session {0}: failover {1} ({2})", _id, _failovers, reason);
        _excluded.UnionWith(devices);
        Timers.Cancel("step");
        _step++;
        if (_route is not null)
        {
            _ctx.RouteCache.Tell(new RouteCache.Done(_route));
        }

        AskRoute();
    }

    private void ArmStepTimer() => Timers.StartSingleTimer("step", new StepTimedOut(_step), _ctx.Settings.StepTimeout);

    private void Complete()
    {
        var p = _progress!;
        var decode = _prefillDone is TimeSpan pre ? _clock.Elapsed - pre : TimeSpan.Zero;
        _client.Tell(new JobMessages.GenerationCompleted(
            _id,
            p.Text,
            p.PromptIds.Length,
            p.GeneratedCount,
            p.Finish!.Value,
            (_prefillDone ?? TimeSpan.Zero).TotalMilliseconds,
            decode.TotalMilliseconds,
            _stats.ToArray(),
            [.. (_route ?? []).Select(e => RouteSelection.Label(e, _ctx.Layers))],
            _failovers));
        Finish();
    }

    private void Fail(string reason)
    {
        _log.Info("session {0}: failed: {1}", _id, reason);
        _client.Tell(new JobMessages.JobFailed(_id, reason));
        Finish();
    }

    private void Finish()
    {
        Timers.CancelAll();
        _ctx.RouteCache.Tell(RouteCache.CancelSelect.Instance);
        if (_route is not null)
        {
            _ctx.RouteCache.Tell(new RouteCache.Done(_route));
        }

        ReleaseStages();
        _route = null;
        Context.Parent.Tell(new Passivate(PoisonPill.Instance));

        // Over until the region stops this entity: answers still in flight (the next prompt chunk's refusal, a late
        // token) must not end the job a second time (a second JobFailed, a second Passivate); a new job under this
        // id is refused as while it ran.
        Become(() =>
        {
            Receive<JobMessages.StartGeneration>(g => Begin(g.Client));
            Receive<JobMessages.StartScoring>(s => Begin(s.Client));
            ReceiveAny(_ => { });
        });
    }

    private void ReleaseStages()
    {
        var sessions = _scoring?.SubSessions ?? [_id];
        foreach (var worker in _used)
        {
            foreach (var s in sessions)
            {
                worker.Tell(new StageMessages.ReleaseSession(s));
            }
        }

        _used.Clear();
    }
}
