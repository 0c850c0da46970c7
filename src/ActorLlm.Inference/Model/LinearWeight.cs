using ActorLlm.Inference.Checkpoints;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace ActorLlm.Inference.Model;

/// <summary>
/// A projection's weights, owned and disposed here: y = x W^T (+ b). W [out, in] is in the compute dtype, or, for a
/// store in <see cref="WeightFormat.Int8AbsmaxPerChannel"/>, int8 with a per-row f32 scale [out]; then
/// y = (x q^T) x scale (+ b): the matmul runs on q converted to the compute dtype (exact: |q| &lt;= 127 fits every
/// float type's significand) and the scale multiplies the output, [B, T, out], not the weight, [out, in], which saves a
/// pass over the weight (one product per output element instead of one per weight). In f16, whose range (65504) the
/// unscaled x q^T can pass, the scale goes onto the converted weight instead, in place. The only extra memory a pass
/// uses is that one converted weight, freed as soon as its matmul is done; every op is a plain device kernel, so the
/// pass can be captured as a CUDA graph.
/// </summary>
public sealed class LinearWeight : IDisposable
{
    public LinearWeight(Tensor weight, Tensor? scale, Tensor? bias)
    {
        if (scale is not null && weight.dtype != ScalarType.Int8)
        {
            throw new ArgumentException($"a scale goes with an int8 weight, not {weight.dtype}", nameof(scale));
        }

        Weight = weight;
        Scale = scale;
        Bias = bias;
    }

    /// <summary>[out, in]: compute dtype, or int8 when <see cref="Scale"/> is set.</summary>
    public Tensor Weight { get; }

    /// <summary>[out] f32, for an int8 <see cref="Weight"/>; else null.</summary>
    public Tensor? Scale { get; }

    /// <summary>[out], or null.</summary>
    public Tensor? Bias { get; }

    public bool IsInt8 => Scale is not null;

    /// <summary>The tensors this projection owns (what a stage moves or streams for it).</summary>
    public IEnumerable<Tensor> Tensors => new[] { Weight, Scale, Bias }.OfType<Tensor>();

    /// <summary>Device bytes the tensors take.</summary>
    public long Bytes => Tensors.Sum(t => t.numel() * t.ElementSize);

    /// <param name="x">[..., in] in the compute dtype.</param>
    /// <returns>[..., out]</returns>
    public Tensor Forward(Tensor x)
    {
        if (Scale is null)
        {
            return F.linear(x, Weight, Bias);
        }

        Tensor y;
        using (var w = Weight.to(x.dtype))
        {
            if (x.dtype == ScalarType.Float16)
            {
                using var rows = Scale.unsqueeze(1);
                return F.linear(x, w.mul_(rows), Bias);
            }

            y = F.linear(x, w);
        }

        y.mul_(Scale);
        return Bias is null ? y : y.add_(Bias);
    }

    public void Dispose()
    {
        Weight.Dispose();
        Scale?.Dispose();
        Bias?.Dispose();
    }
}
