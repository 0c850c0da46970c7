using System.Diagnostics;
using ActorLlm.Gateway.Api;
using ActorLlm.Protocol;
using ActorLlm.Protocol.Messages;
using Prometheus;

namespace ActorLlm.Gateway.Dashboard;

/// <summary>
/// The gateway's Prometheus metrics (served at /metrics, one registry per gateway): the HTTP jobs' tokens,
/// time to first token, inter-token latency, per-stage step times and batch sizes, failovers and outcomes (recorded
/// by <see cref="OpenAiApi"/> through <see cref="Generation"/>); the pool's load, route version and rollouts (from
/// the status watcher's polls, <see cref="Status"/>); pool events by kind. prometheus-net's HTTP middleware adds
/// <c>http_requests_received_total</c> and <c>http_request_duration_seconds</c> by endpoint and status to the same
/// registry. Every name of ours starts with <see cref="Prefix"/>.
/// </summary>
public sealed class ApiMetrics
{
    public const string Prefix = "actorllm_";

    private static readonly string[] s_placementStatuses = Enum.GetNames<PlacementStatus>();

    private readonly Counter _generatedTokens;
    private readonly Counter _promptTokens;
    private readonly Counter _jobs;
    private readonly Counter _failovers;
    private readonly Histogram _timeToFirstToken;
    private readonly Histogram _interToken;
    private readonly Histogram _stagePrefill;
    private readonly Histogram _stageDecodeStep;
    private readonly Histogram _stageBatch;
    private readonly Counter _stageDecodeSteps;
    private readonly Gauge _running;
    private readonly Gauge _queued;
    private readonly Gauge _activeSessions;
    private readonly Gauge _deviceQueued;
    private readonly Gauge _deviceSessions;
    private readonly Gauge _deviceTokensPerSecond;
    private readonly Gauge _routeVersion;
    private readonly Gauge _devices;
    private readonly Gauge _members;
    private readonly Gauge _unreachable;
    private readonly Gauge _placement;
    private readonly Gauge _redundancy;
    private readonly Gauge _rollingOut;
    private readonly Counter _rollouts;
    private readonly Counter _statusFailures;
    private readonly Counter _events;
    private readonly Counter _tlsRefusals;
    private readonly Counter _auditedTokens;
    private readonly Counter _caught;
    private readonly Counter _unaudited;
    private readonly Gauge _quarantined;
    private readonly HashSet<string> _deviceLabels = [];
    private EventRing? _ring;
    private readonly Lock _statusLock = new();

    public ApiMetrics(CollectorRegistry? registry = null)
    {
        Registry = registry ?? Metrics.NewCustomRegistry();
        var f = Metrics.WithCustomRegistry(Registry);
        _generatedTokens = f.CreateCounter(Prefix + "generated_tokens_total", "Tokens generated for HTTP clients.");
        _promptTokens = f.CreateCounter(Prefix + "prompt_tokens_total", "Prompt tokens of finished HTTP generation jobs.");
        _jobs = f.CreateCounter(Prefix + "jobs_total", "HTTP generation jobs (one per choice) by outcome: completed, or unfinished (failed, timed out or abandoned by the client).", "outcome");
        _failovers = f.CreateCounter(Prefix + "failovers_total", "Failovers of finished HTTP jobs (a stage failed and the job replayed on a replica).");
        _timeToFirstToken = f.CreateHistogram(Prefix + "time_to_first_token_seconds", "From the request to its first text, per choice, by mode (stream or whole).", ["mode"],
            new HistogramConfiguration { Buckets = Histogram.ExponentialBuckets(0.005, 2, 14) });
        _interToken = f.CreateHistogram(Prefix + "inter_token_latency_seconds", "Between successive pieces of a choice's text, per token where the tokens are known, by mode.", ["mode"],
            new HistogramConfiguration { Buckets = Histogram.ExponentialBuckets(0.0005, 2, 14) });
        _stagePrefill = f.CreateHistogram(Prefix + "stage_prefill_seconds", "A stage's compute for one job's prompt (every chunk).", ["stage"],
            new HistogramConfiguration { Buckets = Histogram.ExponentialBuckets(0.0005, 2, 16) });
        _stageDecodeStep = f.CreateHistogram(Prefix + "stage_decode_step_seconds", "A stage's mean compute per decode step, one observation per job.", ["stage"],
            new HistogramConfiguration { Buckets = Histogram.ExponentialBuckets(0.0001, 2, 16) });
        _stageBatch = f.CreateHistogram(Prefix + "stage_decode_batch_size", "The mean batch a job's decode steps ran in at a stage, one observation per job.", ["stage"],
            new HistogramConfiguration { Buckets = Histogram.ExponentialBuckets(1, 2, 10) });
        _stageDecodeSteps = f.CreateCounter(Prefix + "stage_decode_steps_total", "Decode steps HTTP jobs ran at each stage.", "stage");
        _running = f.CreateGauge(Prefix + "jobs_running", "HTTP jobs running on this gateway now (each choice is one; at most http.max-jobs).");
        _queued = f.CreateGauge(Prefix + "queued", "Steps queued at the pool's stages, summed (the placement coordinator's last status).");
        _activeSessions = f.CreateGauge(Prefix + "active_sessions", "Sessions the pool's stages hold, summed.");
        _deviceQueued = f.CreateGauge(Prefix + "device_queued", "Steps queued at a device.", "device");
        _deviceSessions = f.CreateGauge(Prefix + "device_active_sessions", "Sessions a device holds.", "device");
        _deviceTokensPerSecond = f.CreateGauge(Prefix + "device_tokens_per_second", "Tokens per second a device reports.", "device");
        _routeVersion = f.CreateGauge(Prefix + "route_version", "The route table's version.");
        _devices = f.CreateGauge(Prefix + "devices", "Devices registered with the placement coordinator.");
        _members = f.CreateGauge(Prefix + "members", "Cluster members.");
        _unreachable = f.CreateGauge(Prefix + "unreachable_members", "Cluster members some node cannot reach.");
        _placement = f.CreateGauge(Prefix + "placement_status", "1 for the placement's current status, 0 for the others.", "status");
        _redundancy = f.CreateGauge(Prefix + "redundancy", "Replicas of every unit: requested and achieved.", "kind");
        _rollingOut = f.CreateGauge(Prefix + "rollout_in_progress", "1 while some device does not serve exactly what it was assigned.");
        _rollouts = f.CreateCounter(Prefix + "rollouts_total", "New placements this gateway has seen (some device's assignment changed).");
        _statusFailures = f.CreateCounter(Prefix + "status_poll_failures_total", "Status polls the placement coordinator did not answer.");
        _events = f.CreateCounter(Prefix + "pool_events_total", "Pool events this gateway recorded, by kind (as the dashboard lists them).", "kind");
        _auditedTokens = f.CreateCounter(Prefix + "verification_audited_tokens_total", "Generated tokens that passed an audit on a trusted route (verification of jobs through volunteers).");
        _caught = f.CreateCounter(Prefix + "verification_mismatches_total", "Audits that caught a route through volunteers computing wrong results (the job replayed from its last audited token).");
        _unaudited = f.CreateCounter(Prefix + "verification_unaudited_jobs_total", "Jobs through volunteers that went on unaudited (no route of trusted devices covered the model).");
        _quarantined = f.CreateGauge(Prefix + "quarantined_devices", "Devices verification caught lying, which get no work (the placement coordinator's last status).");
        _tlsRefusals = f.CreateCounter(Prefix + "tls_refusals_total", "Peers this gateway's cluster port refused in the TLS handshake (untrusted, expired or revoked certificates; logged once per host and reason, counted every time).");
    }

    public CollectorRegistry Registry { get; }

    /// <summary>Reads the TLS refusals counter from <paramref name="refusals"/> (the validator's running count) at every scrape.</summary>
    public void TrackTlsRefusals(Func<long> refusals) =>
        Registry.AddBeforeCollectCallback(() => _tlsRefusals.IncTo(refusals()));

    /// <summary>Reads the running-jobs gauge from <paramref name="running"/> at every scrape.</summary>
    public void TrackRunning(Func<int?> running) =>
        Registry.AddBeforeCollectCallback(() =>
        {
            if (running() is int n)
            {
                _running.Set(n);
            }
        });

    /// <summary>Counts the ring's events by kind, and adds the failovers of the jobs watched to it.</summary>
    public void Follow(EventRing ring)
    {
        _ring = ring;
        ring.Added += e => _events.WithLabels(Label(e.Kind)).Inc();
    }

    /// <summary>The label of an event kind, e.g. "failover".</summary>
    public static string Label(PoolEventKind kind) => kind.ToString().ToLowerInvariant();

    /// <summary>A request's generation jobs, watched as their events go by; disposing it counts the unfinished ones.</summary>
    public GenerationWatch Generation(bool stream, int choices) => new(this, stream ? "stream" : "whole", choices);

    /// <summary>Records a poll of the placement coordinator's status; <paramref name="changes"/> are what it changed.</summary>
    public void Status(StatusMessages.ClusterStatus s, IReadOnlyList<StatusChange> changes)
    {
        lock (_statusLock)
        {
            _routeVersion.Set(s.RouteVersion);
            _devices.Set(s.Devices.Length);
            _quarantined.Set(s.Devices.Count(d => d.Quarantined is not null));
            _members.Set(s.Members.Length);
            _unreachable.Set(s.Members.Count(m => !m.Reachable));
            foreach (string status in s_placementStatuses)
            {
                _placement.WithLabels(status).Set(status == s.PlacementStatus.ToString() ? 1 : 0);
            }

            _redundancy.WithLabels("requested").Set(s.RedundancyRequested);
            _redundancy.WithLabels("achieved").Set(s.RedundancyAchieved);
            _rollingOut.Set(StatusDiff.RollingOut(s) ? 1 : 0);
            _rollouts.Inc(changes.Count(c => c.NewPlan));
            _queued.Set(s.Devices.Sum(d => d.Queued));
            _activeSessions.Set(s.Devices.Sum(d => d.ActiveSessions));
            var labels = new HashSet<string>();
            foreach (var d in s.Devices)
            {
                string label = d.Device.Label;
                if (!labels.Add(label))
                {
                    continue;
                }

                _deviceQueued.WithLabels(label).Set(d.Queued);
                _deviceSessions.WithLabels(label).Set(d.ActiveSessions);
                _deviceTokensPerSecond.WithLabels(label).Set(d.TokensPerSecond);
            }

            // A device that left stops being reported rather than staying at its last values.
            foreach (string gone in _deviceLabels.Where(l => !labels.Contains(l)))
            {
                _deviceQueued.RemoveLabelled(gone);
                _deviceSessions.RemoveLabelled(gone);
                _deviceTokensPerSecond.RemoveLabelled(gone);
            }

            _deviceLabels.Clear();
            _deviceLabels.UnionWith(labels);
        }
    }

    /// <summary>An audit found <paramref name="tokens"/> tokens honest.</summary>
    public void Audited(int tokens) => _auditedTokens.Inc(tokens);

    /// <summary>An audit caught a wrong result.</summary>
    public void Caught() => _caught.Inc();

    /// <summary>A job went on unaudited.</summary>
    public void Unaudited() => _unaudited.Inc();

    /// <summary>A status poll the coordinator did not answer.</summary>
    public void StatusFailed() => _statusFailures.Inc();

    private void Completed(JobMessages.GenerationCompleted c)
    {
        _jobs.WithLabels("completed").Inc();
        _generatedTokens.Inc(Math.Max(0, c.GeneratedTokens));
        _promptTokens.Inc(Math.Max(0, c.PromptTokens));
        foreach (var stage in c.Stages)
        {
            _stagePrefill.WithLabels(stage.Stage).Observe(stage.PrefillMs / 1000);
            if (stage.DecodeSteps > 0)
            {
                _stageDecodeStep.WithLabels(stage.Stage).Observe(stage.DecodeMs / stage.DecodeSteps / 1000);
                _stageBatch.WithLabels(stage.Stage).Observe(stage.MeanDecodeBatch);
                _stageDecodeSteps.WithLabels(stage.Stage).Inc(stage.DecodeSteps);
            }
        }

        if (c.Failovers > 0)
        {
            _failovers.Inc(c.Failovers);
            _ring?.Add(PoolEventKind.Failover, $"a job failed over {c.Failovers} time{(c.Failovers == 1 ? "" : "s")} and finished on {string.Join(" → ", c.Route)}");
        }
    }

    /// <summary>
    /// One request's jobs (one per choice) as <see cref="OpenAiApi"/> reads their events: each choice's first text
    /// (time to first token), the gaps between its later pieces (inter-token latency), and its end. One reader.
    /// </summary>
    public sealed class GenerationWatch : IDisposable
    {
        private readonly ApiMetrics _metrics;
        private readonly string _mode;
        private readonly long _start = Stopwatch.GetTimestamp();
        private readonly long[] _lastText;
        private readonly bool[] _done;
        private int _disposed;

        internal GenerationWatch(ApiMetrics metrics, string mode, int choices)
        {
            _metrics = metrics;
            _mode = mode;
            _lastText = new long[choices];
            _done = new bool[choices];
        }

        public void Observe(JobEvent e)
        {
            if ((uint)e.Choice >= (uint)_done.Length || _done[e.Choice])
            {
                return;
            }

            switch (e)
            {
                case JobEvent.Text t when t.Delta.Text.Length > 0 || t.Delta.Tokens is { Length: > 0 }:
                    long now = Stopwatch.GetTimestamp();
                    if (_lastText[t.Choice] == 0)
                    {
                        _metrics._timeToFirstToken.WithLabels(_mode).Observe(Stopwatch.GetElapsedTime(_start, now).TotalSeconds);
                    }
                    else
                    {
                        int tokens = Math.Max(1, t.Delta.Tokens?.Length ?? 1);
                        _metrics._interToken.WithLabels(_mode).Observe(Stopwatch.GetElapsedTime(_lastText[t.Choice], now).TotalSeconds / tokens);
                    }

                    _lastText[t.Choice] = now;
                    break;
                case JobEvent.Generated g:
                    _done[g.Choice] = true;
                    _metrics.Completed(g.Result);
                    break;
            }
        }

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0)
            {
                int unfinished = _done.Count(d => !d);
                if (unfinished > 0)
                {
                    _metrics._jobs.WithLabels("unfinished").Inc(unfinished);
                }
            }
        }
    }
}
