using ActorLlm.Inference.Config;
using ActorLlm.Inference.Devices;
using static TorchSharp.torch;

namespace ActorLlm.Inference.Model;

/// <summary>
/// Rotary position embedding in the "rotate half" layout transformers uses for Llama:
/// x' = x * cos(p * f) + rotate_half(x) * sin(p * f), with f the inverse frequencies repeated for both halves.
/// cos and sin are tabulated once for positions [0, capacity), in float32 and then cast to the model dtype,
/// as transformers computes them. rotate_half(x) * sin is computed as roll(x, D/2) * sin', with sin' the sin table
/// whose first half is negated: [-x2, x1] * [s1, s2] = [x2, x1] * [-s1, s2] exactly (a sign flip rounds nothing), in
/// two kernels instead of four, and queries and keys are rotated together.
/// </summary>
public sealed class RotaryEmbedding : IDisposable
{
    private readonly Tensor _cos;
    private readonly Tensor _sin;

    public RotaryEmbedding(RopeConfig rope, int headDim, int capacity, ComputeTarget target)
    {
        Capacity = capacity;
        using var scope = NewDisposeScope();
        var invFreq = InverseFrequencies(rope, headDim);                                   // [D/2] f32
        var positions = arange(capacity, ScalarType.Float32);                              // [P]
        var freqs = positions.unsqueeze(1) * invFreq.unsqueeze(0);                         // [P, D/2]
        var emb = cat([freqs, freqs], 1);                                                  // [P, D]
        _cos = emb.cos().to(target.DType, target.Device).MoveToOuterDisposeScope();
        var sin = emb.sin().to(target.DType, target.Device);
        long half = headDim / 2;
        _sin = cat([sin.narrow(1, 0, half).neg(), sin.narrow(1, half, half)], 1).MoveToOuterDisposeScope();
    }

    /// <summary>[Capacity, D] cos table (what the fused rotary kernel reads).</summary>
    public Tensor CosTable => _cos;

    /// <summary>[Capacity, D] sin table, first half negated.</summary>
    public Tensor SinTable => _sin;

    /// <summary>Positions [0, Capacity) have table entries.</summary>
    public int Capacity { get; }

    /// <summary>
    /// The inverse frequencies, computed with float32 tensor ops in the same order as transformers'
    /// <c>_compute_default_rope_parameters</c> / <c>_compute_linear_scaling_rope_parameters</c> /
    /// <c>_compute_llama3_parameters</c>, so the tables match to the last bit on the same kernels.
    /// </summary>
    public static Tensor InverseFrequencies(RopeConfig rope, int headDim)
    {
        using var scope = NewDisposeScope();
        var exponents = arange(0, headDim, 2, ScalarType.Int64).to(ScalarType.Float32) / headDim;
        var invFreq = 1.0 / pow(tensor(rope.Theta, ScalarType.Float32), exponents);
        switch (rope.Type)
        {
            case RopeType.Linear:
                invFreq = invFreq / rope.Factor;
                break;
            case RopeType.Llama3:
                double oldContext = rope.OriginalMaxPositionEmbeddings;
                double lowFreqWavelen = oldContext / rope.LowFreqFactor;
                double highFreqWavelen = oldContext / rope.HighFreqFactor;
                var wavelen = 2 * Math.PI / invFreq;
                // Long wavelengths are scaled down by factor, short ones kept, the band between interpolated.
                var llama = where(wavelen > lowFreqWavelen, invFreq / rope.Factor, invFreq);
                var smooth = ((oldContext / wavelen) - rope.LowFreqFactor) / (rope.HighFreqFactor - rope.LowFreqFactor);
                var smoothed = ((1 - smooth) * llama / rope.Factor) + (smooth * llama);
                var medium = (wavelen >= highFreqWavelen).logical_and(wavelen <= lowFreqWavelen);
                invFreq = where(medium, smoothed, llama);
                break;
        }

        return invFreq.MoveToOuterDisposeScope();
    }

    /// <summary>cos and the half-negated sin (see the class summary) for the given positions.</summary>
    /// <param name="positions">[B, T] int64 on the model's device.</param>
    /// <returns>([B, T, 1, D], [B, T, 1, D]), broadcastable over heads.</returns>
    public (Tensor Cos, Tensor Sin) At(Tensor positions)
    {
        var flat = positions.reshape(-1);
        long b = positions.shape[0], t = positions.shape[1];
        var cos = _cos.index_select(0, flat).view(b, t, 1, -1);
        var sin = _sin.index_select(0, flat).view(b, t, 1, -1);
        return (cos, sin);
    }

    /// <summary>Rotates queries or keys: x * cos + rotate_half(x) * sin.</summary>
    /// <param name="x">[B, T, heads, D]</param>
    /// <param name="cos">[B, T, 1, D]</param>
    /// <param name="sin">[B, T, 1, D], from <see cref="At"/> (first half negated).</param>
    public static Tensor Apply(Tensor x, Tensor cos, Tensor sin) => (x * cos) + (x.roll(x.shape[^1] / 2, -1) * sin);

    public void Dispose()
    {
        _cos.Dispose();
        _sin.Dispose();
    }
}
