using ActorLlm.Inference.Native;
using TorchSharp;
using static TorchSharp.torch;

namespace ActorLlm.Inference.Model;

/// <summary>
/// Root-mean-square layer norm: y = w * x / sqrt(mean(x^2) + eps), the statistics in float32 whatever the model
/// dtype (as transformers' LlamaRMSNorm does), the result cast back before scaling by w. On CUDA with the native
/// library loaded it is libtorch's fused rms_norm (one kernel instead of eight; the same math, rounded once where the
/// eight-op form rounds the normalised value before scaling). Like every module here it allocates its temporaries in
/// the caller's dispose scope.
/// </summary>
public sealed class RmsNorm(Tensor weight, double eps) : IDisposable
{
    private readonly bool _fused = weight.device.type == DeviceType.CUDA && CudaNative.IsAvailable;

    /// <summary>[hidden]</summary>
    public Tensor Weight { get; } = weight;

    public double Eps => eps;

    /// <param name="x">[..., hidden]</param>
    /// <returns>[..., hidden], same dtype as <paramref name="x"/>.</returns>
    public Tensor Forward(Tensor x)
    {
        if (_fused)
        {
            return CudaNative.RmsNorm(x, Weight, eps);
        }

        bool upcast = x.dtype != ScalarType.Float32;
        var x32 = upcast ? x.to(ScalarType.Float32) : x;
        var variance = x32.pow(2).mean([-1], keepdim: true);
        var normed = x32 * (variance + eps).rsqrt();
        return Weight * (upcast ? normed.to(x.dtype) : normed);
    }

    public void Dispose() => Weight.Dispose();
}
