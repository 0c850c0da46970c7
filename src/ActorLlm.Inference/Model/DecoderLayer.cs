using ActorLlm.Inference.Checkpoints;
using ActorLlm.Inference.Config;
using ActorLlm.Inference.Execution;
using ActorLlm.Inference.Native;
using static TorchSharp.torch;

namespace ActorLlm.Inference.Model;

/// <summary>One pre-norm decoder layer: h = x + attn(norm1(x)); y = h + mlp(norm2(h)).</summary>
public sealed class DecoderLayer : IDisposable
{
    private readonly RmsNorm _inputNorm;
    private readonly Attention _attention;
    private readonly RmsNorm _postAttentionNorm;
    private readonly Mlp _mlp;

    public DecoderLayer(ModelConfig c, WeightLoader w, int layer)
    {
        string p = UnitTensors.LayerPrefix(layer);
        Index = layer;
        _inputNorm = new RmsNorm(w.Load(p + "input_layernorm.weight", c.HiddenSize), c.RmsNormEps);
        _attention = new Attention(c, w, p + "self_attn.");
        _postAttentionNorm = new RmsNorm(w.Load(p + "post_attention_layernorm.weight", c.HiddenSize), c.RmsNormEps);
        _mlp = new Mlp(c, w, p + "mlp.");
    }

    /// <summary>The layer's index in the whole model.</summary>
    public int Index { get; }

    /// <summary>
    /// Every tensor the layer owns, in a fixed order: what a streamed stage copies from a layer's host copy into a
    /// ring slot (see <c>LayerStreamer</c>). A tensor a module adds must be listed by it, or streamed layers would compute
    /// with a stale slot's copy (the streamed == resident tests catch that).
    /// </summary>
    public IEnumerable<Tensor> Tensors =>
        new[] { _inputNorm.Weight }.Concat(_attention.Tensors).Append(_postAttentionNorm.Weight).Concat(_mlp.Tensors);

    /// <param name="x">[B, T, hidden]</param>
    /// <returns>[B, T, hidden]</returns>
    public Tensor Forward(Tensor x, AttentionBatch batch, Tensor keys, Tensor values)
    {
        var attended = _attention.Forward(_inputNorm.Forward(x), batch, keys, values);
        if (CudaNative.KernelsFor(x) && x.is_contiguous())
        {
            // The residual add and the second norm in one kernel.
            var (sum, normed) = CudaNative.AddRmsNorm(attended, x, _postAttentionNorm.Weight, _postAttentionNorm.Eps);
            return sum + _mlp.Forward(normed);
        }

        var h = x + attended;
        return h + _mlp.Forward(_postAttentionNorm.Forward(h));
    }

    public void Dispose()
    {
        _inputNorm.Dispose();
        _attention.Dispose();
        _postAttentionNorm.Dispose();
        _mlp.Dispose();
    }
}
