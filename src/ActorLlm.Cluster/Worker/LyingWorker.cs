using ActorLlm.Protocol;
using static TorchSharp.torch;

namespace ActorLlm.Cluster.Worker;

/// <summary>How a worker made to lie for tests corrupts what it computes (<c>actorllm.worker.lie.mode</c>).</summary>
public enum LieMode
{
    /// <summary>Honest: the default, and the only mode a worker takes without <c>actorllm.testing.fault-injection = on</c>.</summary>
    None = 0,

    /// <summary>Adds random noise of <see cref="LieSettings.RelativeSize"/> times the output's own norm.</summary>
    Perturb = 1,

    /// <summary>Returns zeros.</summary>
    Zeros = 2,

    /// <summary>Returns another session's output (the last one it computed with the same shape), else zeros.</summary>
    OtherSession = 3,
}

/// <summary>
/// Fault injection for verification tests (<c>actorllm.worker.lie</c>): in a <see cref="Fraction"/> of its steps a
/// worker corrupts the output it sends on (hidden states to the next stage; at the end of the model, the logits it
/// samples from). Refused unless <c>actorllm.testing.fault-injection</c> is on as well.
/// </summary>
public sealed record LieSettings(LieMode Mode, double RelativeSize, double Fraction, int Seed)
{
    public static LieSettings Honest { get; } = new(LieMode.None, 0, 0, 0);
}

/// <summary>Carries out <see cref="LieSettings"/> on one worker's outputs (its pinned thread only).</summary>
internal sealed class LyingWorker(LieSettings settings) : IDisposable
{
    private readonly Random _random = new(settings.Seed);
    private readonly Dictionary<SessionId, Tensor> _last = [];

    public bool Active => settings.Mode != LieMode.None && settings.Fraction > 0;

    /// <summary>Lies told so far (tests, logs).</summary>
    public long Lies { get; private set; }

    /// <summary>
    /// <paramref name="output"/> as this worker sends it on: the same tensor when honest this time, else a new one that
    /// the caller disposes (the original stays the caller's too).
    /// </summary>
    public Tensor Apply(SessionId session, Tensor output)
    {
        if (!Active)
        {
            return output;
        }

        Tensor? other = settings.Mode == LieMode.OtherSession
            ? _last.FirstOrDefault(p => p.Key != session && p.Value.shape.SequenceEqual(output.shape)).Value
            : null;
        if (_last.Remove(session, out var old))
        {
            old.Dispose();
        }

        if (settings.Mode == LieMode.OtherSession)
        {
            _last[session] = output.detach().clone();
        }

        if (_random.NextDouble() >= settings.Fraction)
        {
            return output;
        }

        Lies++;
        Tensor lie;
        using (NewDisposeScope())
        {
            lie = settings.Mode switch
            {
                LieMode.Perturb => Perturbed(output).MoveToOuterDisposeScope(),
                LieMode.OtherSession when other is not null => other.clone().MoveToOuterDisposeScope(),
                _ => zeros_like(output).MoveToOuterDisposeScope(),
            };
        }

        return lie;
    }

    private Tensor Perturbed(Tensor output)
    {
        var g = new Generator((ulong)_random.NextInt64(), output.device);
        var noise = randn(output.shape, dtype: ScalarType.Float32, device: output.device, generator: g);
        var x = output.to(ScalarType.Float32);
        var scale = x.norm() / noise.norm().clamp_min(1e-12) * settings.RelativeSize;
        return (x + noise * scale).to(output.dtype);
    }

    public void Release(SessionId session)
    {
        if (_last.Remove(session, out var t))
        {
            t.Dispose();
        }
    }

    public void Dispose()
    {
        foreach (var t in _last.Values)
        {
            t.Dispose();
        }

        _last.Clear();
    }
}
