using ActorLlm.Inference.Checkpoints;
using ActorLlm.Inference.Config;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace ActorLlm.Inference.Model;

/// <summary>
/// The end unit: final RMSNorm, then logits = h W^T. W is <c>lm_head.weight</c>, or the embedding matrix when the
/// model ties them (then this unit carries its own copy, so the end stage needs no begin unit).
/// </summary>
public sealed class LmHead : IDisposable
{
    private readonly RmsNorm _norm;
    private readonly Tensor _weight;   // [vocab, hidden]

    public LmHead(ModelConfig c, WeightLoader w)
    {
        _norm = new RmsNorm(w.Load(UnitTensors.FinalNorm, c.HiddenSize), c.RmsNormEps);
        _weight = w.Load(UnitTensors.HeadName(w.Source.Contains), c.VocabSize, c.HiddenSize);
    }

    /// <summary>The final norm alone (what transformers reports as the last hidden state).</summary>
    public Tensor Norm(Tensor h) => _norm.Forward(h);

    /// <param name="h">[..., hidden] from the last layer.</param>
    /// <returns>[..., vocab] float32.</returns>
    public Tensor Forward(Tensor h) => F.linear(_norm.Forward(h), _weight).to(ScalarType.Float32);

    public void Dispose()
    {
        _norm.Dispose();
        _weight.Dispose();
    }
}
