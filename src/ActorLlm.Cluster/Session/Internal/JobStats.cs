using System.Diagnostics;
using ActorLlm.Protocol.Messages;

namespace ActorLlm.Cluster.Session.Internal;

/// <summary>
/// A job's figures: time per stage split into prefill and decode (with the batches its decode steps ran in), and the
/// job's wall time split at its first sampled token. Everything before that token (prompt chunks, scored choices, the token's own step) is prefill.
/// </summary>
internal sealed class JobStats
{
    private readonly Dictionary<string, (double Prefill, double Decode, int Steps, long BatchSteps)> _stages = [];
    private readonly Stopwatch _clock = new();
    private TimeSpan? _firstToken;

    /// <summary>Since <see cref="Start"/>.</summary>
    public TimeSpan Elapsed => _clock.Elapsed;

    public void Start() => _clock.Start();

    /// <summary>A prompt chunk went through, or a choice was scored.</summary>
    public void Acknowledged(IEnumerable<StageTiming> timings) => Add(timings, decode: false);

    /// <summary>A token was sampled: the first one ends the prefill, every later one is a decode step.</summary>
    public void Sampled(IEnumerable<StageTiming> timings)
    {
        Add(timings, decode: _firstToken is not null);
        _firstToken ??= _clock.Elapsed;
    }

    public JobReport Report(string[] route, int failovers) => new(
        _firstToken ?? TimeSpan.Zero,
        _firstToken is TimeSpan first ? _clock.Elapsed - first : TimeSpan.Zero,
        [.. _stages.Select(p => new StageStats(p.Key, p.Value.Prefill, p.Value.Decode, p.Value.Steps, p.Value.BatchSteps))],
        route,
        failovers);

    private void Add(IEnumerable<StageTiming> timings, bool decode)
    {
        foreach (var t in timings)
        {
            var s = _stages.GetValueOrDefault(t.Stage);
            _stages[t.Stage] = decode ? (s.Prefill, s.Decode + t.ComputeMs, s.Steps + 1, s.BatchSteps + t.BatchSteps) : (s.Prefill + t.ComputeMs, s.Decode, s.Steps, s.BatchSteps);
        }
    }
}
