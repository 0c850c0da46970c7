using ActorLlm.Protocol;
using ActorLlm.Protocol.Messages;
using Akka.Actor;
using Akka.Event;

namespace ActorLlm.Cluster.Session.Internal;

/// <summary>
/// The session's verification of its job (see <see cref="Verification"/> for the decisions, <see cref="JobAudit"/> for
/// the state): the audit route, audits and their answers, holding text until audited, quarantining a liar and
/// rewinding the job, and going on unaudited when no trusted route is left.
/// </summary>
internal sealed partial class GenerationSessionActor
{
    // Verification (Verification, JobAudit): null while the job has not run through a volunteer (or verification is
    // off). _producedBy[i]: the volunteers on the route that sampled token i (whom a wrong token i blames).
    private GenerationJob? _generation;
    private JobAudit? _audit;
    private bool _unaudited;
    private bool _endPending;
    private IReadOnlyList<DeviceKey> _volunteers = [];
    private readonly List<IReadOnlyList<DeviceKey>> _producedBy = [];
    private readonly HashSet<DeviceKey> _auditExcluded = [];
    private readonly HashSet<DeviceKey> _auditRetried = [];
    private readonly HashSet<DType> _dtypes = [];

    /// <summary>A job that runs through a volunteer is audited from then on (<see cref="Verification"/>).</summary>
    private void WatchRoute(ActiveRoute route)
    {
        if (!_ctx.Settings.Verify.Enabled || _generation is null || _unaudited)
        {
            return;
        }

        _volunteers = Verification.Volunteers(route.Entries);
        _dtypes.UnionWith(route.Entries.Select(e => e.Device.DType));
        if (_volunteers.Count == 0 && _audit is null)
        {
            return;
        }

        if (_audit is null)
        {
            _audit = new JobAudit(_id);
            _stageSessions = [.. _stageSessions, _audit.Session];
            _log.Info("session {0}: auditing the job: its route runs through volunteer {1}", _id, string.Join(", ", _volunteers));
        }

        if (_audit.Route is null && !_audit.RouteRequested)
        {
            RequestAuditRoute();
        }
    }

    private void RequestAuditRoute()
    {
        _audit!.RouteRequested = true;
        _ctx.RouteCache.Tell(new RouteCache.Select(_failovers.Excluded.Union(_auditExcluded), Audit: true));
    }

    private void OnAuditRoute(RouteCache.Selected selected)
    {
        if (_audit is not { } audit || audit.Route is not null)
        {
            _ctx.RouteCache.Tell(new RouteCache.Done(selected.Route));
            return;
        }

        audit.RouteRequested = false;
        audit.Route = new ActiveRoute(selected.Route);
        _dtypes.UnionWith(selected.Route.Select(e => e.Device.DType));
        audit.Cached = 0;
        _used.UnionWith(audit.Route.Entries.Select(e => e.Worker));
        MaybeAudit();
    }

    /// <summary>
    /// Between audits: tokens sampled on routes of trusted devices only need no audit (the tokens before them are
    /// audited), so they count as verified as they come; the text of verified tokens goes out; a job whose end waited
    /// for its audit ends once every token is verified; otherwise the next audit goes out when due.
    /// </summary>
    private void Audit(ISessionJob job)
    {
        if (_audit is not { InFlight: null } audit || _generation is not { } g || _unaudited)
        {
            return;
        }

        while (audit.Verified < g.Sampled && audit.Verified < _producedBy.Count && _producedBy[audit.Verified].Count == 0)
        {
            audit.Verified++;
        }

        Send(audit.Release());
        if (_endPending && audit.Verified == g.Sampled)
        {
            Complete(job);
            return;
        }

        MaybeAudit();
    }

    /// <summary>Sends the next audit when one is due and none is in flight.</summary>
    private void MaybeAudit()
    {
        if (_audit is not { Route: { } route, InFlight: null } audit || _generation is not { } g || _unaudited)
        {
            return;
        }

        var verify = _ctx.Settings.Verify;
        if (!Verification.AuditDue(g.Sampled, audit.Verified, _endPending, verify.AuditEvery))
        {
            return;
        }

        int chunk = StepPlan.ChunkTokens(_ctx.Settings.PrefillChunk, _ctx.HiddenSize, _ctx.MaxPayloadBytes);
        var window = Verification.Window(g.PromptTokens, audit.Verified, g.Sampled, audit.Cached, Math.Max(1, chunk - 1));
        // Only the positions this audit feeds (not the whole history every audit).
        int[] fed = [.. g.History.Skip(window.PrefillFrom).Take(window.CachedAfter - window.PrefillFrom)];
        audit.Step++;
        var steps = route.Steps(audit.Step, Self);
        var messages = new List<StageMessages.Forward>();
        if (window.AuditFrom > window.PrefillFrom)
        {
            messages.AddRange(StepPlan.Run(audit.Session, audit.Step, steps.Hops, window.PrefillFrom, fed[..(window.AuditFrom - window.PrefillFrom)], chunk, WireSampling.Greedy, Self, StepKind.Prefill));
        }

        messages.Add(new StageMessages.Forward(
            audit.Session,
            audit.Step,
            steps.Hops[0].Range,
            window.AuditFrom,
            fed[(window.AuditFrom - window.PrefillFrom)..],
            null,
            steps.Rest,
            Self,
            StepKind.Audit,
            WireSampling.Greedy with { Logprobs = verify.TopLogprobs },
            0,
            0,
            []));
        foreach (var m in messages)
        {
            route.FirstStage.Tell(m, Self);
        }

        audit.InFlight = window;
        Timers.StartSingleTimer(AuditTimer, new AuditTimedOut(audit.Step), verify.AuditTimeout);
    }

    private void OnAudited(ISessionJob job, StageMessages.Audited answer)
    {
        if (_audit is not { InFlight: { } window } audit || answer.Session != audit.Session || answer.Step != audit.Step || _generation is not { } g)
        {
            return;
        }

        Timers.Cancel(AuditTimer);
        audit.InFlight = null;
        if (answer.FirstPosition != window.AuditFrom || answer.Rows.Length != window.Rows)
        {
            AuditLost(job, $"the audit answered {answer.Rows.Length} rows from position {answer.FirstPosition}, not {window.Rows} from {window.AuditFrom}", null);
            return;
        }

        var verify = _ctx.Settings.Verify;
        var reported = Enumerable.Range(audit.Verified, window.Rows).Select(g.Reported).ToList();
        var verdict = Verification.Compare(reported, answer.Rows, g.Greedy, Verification.Tolerance(_dtypes, verify));
        audit.Checked += verdict.Agreed + (verdict.Honest ? 0 : 1);
        Context.System.EventStream.Publish(new Verification.TokensAudited(_id, verdict.Agreed));
        if (verdict.Honest)
        {
            audit.Verified += window.Rows;
            audit.Cached = window.CachedAfter;
            Audit(job);
            return;
        }

        // Tokens before the first wrong one stand; the rest go, and the job replays from there on a route without
        // the volunteers that sampled the wrong one.
        int good = audit.Verified + verdict.Agreed;
        audit.Verified = good;
        audit.Cached = window.AuditFrom + verdict.Agreed + 1;
        Send(audit.Release());
        audit.DropAfter(good);
        var suspects = good < _producedBy.Count ? _producedBy[good] : _volunteers;
        var quarantined = Verification.Quarantine(suspects);
        string reason = $"token {good} failed verification: {verdict.Disagreement}";
        _log.Warning("session {0}: VERIFICATION: {1}; route {2}; quarantining {3}", _id, reason, string.Join(", ", suspects), quarantined.Count == 0 ? "nobody (more than one volunteer could have lied)" : string.Join(", ", quarantined));
        foreach (var liar in quarantined)
        {
            _ctx.Coordinator?.Tell(new PlacementMessages.Quarantine(liar, $"{reason} (session {_id})"));
            _ctx.RouteCache.Tell(new RouteCache.Quarantined(liar));
        }

        Context.System.EventStream.Publish(new Verification.RouteCaught(_id, [.. suspects], [.. quarantined], reason));
        g.Rewind(good);
        _producedBy.RemoveRange(good, _producedBy.Count - good);
        _endPending = false;
        switch (FailoverPolicy.Distrust(reason, suspects, _failovers, _ctx.Settings))
        {
            case FailoverPolicy.Failover f:
                Failover(f);
                break;
            case FailoverPolicy.GiveUp giveUp:
                Fail(giveUp.Reason, giveUp.Kind);
                break;
        }
    }

    /// <summary>The audit route failed or went silent: another one, or (after as many as failovers allow) no more audits.</summary>
    private void AuditLost(ISessionJob job, string reason, DeviceKey? device, bool mayRetry = true)
    {
        var audit = _audit!;
        Timers.Cancel(AuditTimer);
        audit.InFlight = null;
        audit.Lost++;
        if (mayRetry && audit.Route is not null && device is { } first && _auditRetried.Add(first))
        {
            // A stage's first refusal (e.g. it dropped the audit's cache after a long idle spell): the same route once
            // more, filled from the start, before routing around the device.
            _log.Info("session {0}: audit failed on {1} ({2}); running it again from the start", _id, first, reason);
            audit.Cached = 0;
            MaybeAudit();
            return;
        }

        if (audit.Route is not null)
        {
            _ctx.RouteCache.Tell(new RouteCache.Done(audit.Route.Entries));
            if (device is null)
            {
                _auditExcluded.UnionWith(audit.Route.Devices);
            }
        }

        if (device is { } d)
        {
            _auditExcluded.Add(d);
        }

        audit.Route = null;
        audit.Cached = 0;
        _log.Warning("session {0}: audit route lost ({1})", _id, reason);
        if (audit.Lost > _ctx.Settings.MaxFailovers)
        {
            GiveUpAuditing(job, $"{audit.Lost} audit routes lost, the last: {reason}");
            return;
        }

        RequestAuditRoute();
    }

    /// <summary>No audits can run: the job goes on unaudited, said in the log and the metrics.</summary>
    private void GiveUpAuditing(ISessionJob job, string reason)
    {
        if (_audit is not { } audit || _unaudited)
        {
            return;
        }

        _unaudited = true;
        audit.RouteRequested = false;
        _log.Warning("session {0}: VERIFICATION OFF for this job: {1}; its text is not audited", _id, reason);
        Context.System.EventStream.Publish(new Verification.GaveUp(_id, reason));
        Send(audit.ReleaseAll());
        if (_endPending)
        {
            Complete(job);
        }
    }

    /// <summary>The job is being audited: its text waits for its audit.</summary>
    private bool Audited => _audit is not null && !_unaudited;

    private void Stream(IEnumerable<JobMessages.TextDelta> text)
    {
        if (Audited)
        {
            foreach (var delta in text)
            {
                _audit!.Hold(_generation!.Sampled, delta);
            }

            return;
        }

        Send(text);
    }
}
