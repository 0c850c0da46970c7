using ActorLlm.Inference.Config;
using ActorLlm.Inference.Native;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace ActorLlm.Inference.Model;

/// <summary>SwiGLU feed-forward: down(silu(gate(x)) * up(x)), with gate and up fused into one projection.</summary>
public sealed class Mlp : IDisposable
{
    private readonly LinearWeight _gateUp;   // [2 I, hidden] (+ bias [2 I])
    private readonly LinearWeight _down;     // [hidden, I] (+ bias [hidden])
    private readonly long _intermediate;

    public Mlp(ModelConfig c, WeightLoader w, string prefix)
    {
        _intermediate = c.IntermediateSize;
        long i = c.IntermediateSize, h = c.HiddenSize;
        _gateUp = w.LoadLinear(
            [(prefix + "gate_proj.weight", [i, h]), (prefix + "up_proj.weight", [i, h])],
            c.MlpBias ? [(prefix + "gate_proj.bias", [i]), (prefix + "up_proj.bias", [i])] : null);
        try
        {
            _down = w.LoadLinear([(prefix + "down_proj.weight", [h, i])], c.MlpBias ? [(prefix + "down_proj.bias", [h])] : null);
        }
        catch
        {
            _gateUp.Dispose();
            throw;
        }
    }

    /// <summary>The projections (their tensors are this layer's MLP weights).</summary>
    public IEnumerable<LinearWeight> Projections => [_gateUp, _down];

    /// <summary>Every tensor this module owns, in a fixed order (see <see cref="DecoderLayer.Tensors"/>).</summary>
    public IEnumerable<Tensor> Tensors => Projections.SelectMany(p => p.Tensors);

    /// <param name="x">[B, T, hidden], already normed.</param>
    /// <returns>[B, T, hidden]</returns>
    public Tensor Forward(Tensor x)
    {
        var gateUp = _gateUp.Forward(x);                     // [B, T, 2 I]
        if (CudaNative.KernelsFor(gateUp))
        {
            return _down.Forward(CudaNative.SiluMul(gateUp));
        }

        var gate = gateUp.narrow(-1, 0, _intermediate);
        var up = gateUp.narrow(-1, _intermediate, _intermediate);
        return _down.Forward(F.silu(gate) * up);
    }

    public void Dispose()
    {
        _gateUp.Dispose();
        _down.Dispose();
    }
}
