using ActorLlm.Inference.Config;
using ActorLlm.Inference.Native;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace ActorLlm.Inference.Model;

/// <summary>SwiGLU feed-forward: down(silu(gate(x)) * up(x)), with gate and up fused into one projection.</summary>
public sealed class Mlp : IDisposable
{
    private readonly Tensor _gateUpWeight;   // [2 I, hidden]
    private readonly Tensor? _gateUpBias;    // [2 I]
    private readonly Tensor _downWeight;     // [hidden, I]
    private readonly Tensor? _downBias;      // [hidden]
    private readonly long _intermediate;

    public Mlp(ModelConfig c, WeightLoader w, string prefix)
    {
        _intermediate = c.IntermediateSize;
        long i = c.IntermediateSize, h = c.HiddenSize;
        _gateUpWeight = w.LoadConcat((prefix + "gate_proj.weight", [i, h]), (prefix + "up_proj.weight", [i, h]));
        _downWeight = w.Load(prefix + "down_proj.weight", h, i);
        if (c.MlpBias)
        {
            _gateUpBias = w.LoadConcat((prefix + "gate_proj.bias", [i]), (prefix + "up_proj.bias", [i]));
            _downBias = w.Load(prefix + "down_proj.bias", h);
        }
    }

    /// <summary>Every tensor this module owns, in a fixed order (see <see cref="DecoderLayer.Tensors"/>).</summary>
    public IEnumerable<Tensor> Tensors => new[] { _gateUpWeight, _gateUpBias, _downWeight, _downBias }.OfType<Tensor>();

    /// <param name="x">[B, T, hidden], already normed.</param>
    /// <returns>[B, T, hidden]</returns>
    public Tensor Forward(Tensor x)
    {
        var gateUp = F.linear(x, _gateUpWeight, _gateUpBias);                     // [B, T, 2 I]
        if (CudaNative.KernelsFor(gateUp))
        {
            return F.linear(CudaNative.SiluMul(gateUp), _downWeight, _downBias);
        }

        var gate = gateUp.narrow(-1, 0, _intermediate);
        var up = gateUp.narrow(-1, _intermediate, _intermediate);
        return F.linear(F.silu(gate) * up, _downWeight, _downBias);
    }

    public void Dispose()
    {
        _gateUpWeight.Dispose();
        _gateUpBias?.Dispose();
        _downWeight.Dispose();
        _downBias?.Dispose();
    }
}
