using static TorchSharp.torch;

namespace ActorLlm.Inference.Model;

/// <summary>
/// Root-mean-square layer norm: y = w * x / sqrt(mean(x^2) + eps), the statistics in float32 whatever the model
/// dtype (as transformers' LlamaRMSNorm does), the result cast back before scaling by w.
/// Like every module here it allocates its temporaries in the caller's dispose scope.
/// </summary>
public sealed class RmsNorm(Tensor weight, double eps) : IDisposable
{
    /// <summary>[hidden]</summary>
    public Tensor Weight { get; } = weight;

    /// <param name="x">[..., hidden]</param>
    /// <returns>[..., hidden], same dtype as <paramref name="x"/>.</returns>
    public Tensor Forward(Tensor x)
    {
        var x32 = x.to(ScalarType.Float32);
        var variance = x32.pow(2).mean([-1], keepdim: true);
        var normed = x32 * (variance + eps).rsqrt();
        return Weight * normed.to(x.dtype);
    }

    public void Dispose() => Weight.Dispose();
}
