using ActorLlm.Inference.Config;
using ActorLlm.Inference.Execution;
using ActorLlm.Inference.Native;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace ActorLlm.Inference.Model;

/// <summary>
/// Grouped-query self-attention with rotary positions and a KV cache:
/// q, k, v = x Wqkv (+b); q, k rotated; k, v written to the cache at their positions;
/// out = softmax(q k^T / sqrt(D) + mask) v Wo (+b). H query heads share KV key/value heads in groups of
/// G = H / KV (query head h reads key head h / G). q/k/v are one fused projection: one matmul, not three.
/// </summary>
public sealed class Attention : IDisposable
{
    private readonly LinearWeight _qkv;     // [(H + 2 KV) D, hidden] (+ bias [(H + 2 KV) D])
    private readonly LinearWeight _out;     // [hidden, H D] (+ bias [hidden])
    private readonly int _heads, _kvHeads, _headDim;

    public Attention(ModelConfig c, WeightLoader w, string prefix)
    {
        _heads = c.NumHeads;
        _kvHeads = c.NumKvHeads;
        _headDim = c.HeadDim;
        long q = (long)c.NumHeads * c.HeadDim, kv = (long)c.NumKvHeads * c.HeadDim, h = c.HiddenSize;
        _qkv = w.LoadLinear(
            [(prefix + "q_proj.weight", [q, h]), (prefix + "k_proj.weight", [kv, h]), (prefix + "v_proj.weight", [kv, h])],
            c.QkvBias ? [(prefix + "q_proj.bias", [q]), (prefix + "k_proj.bias", [kv]), (prefix + "v_proj.bias", [kv])] : null);
        try
        {
            _out = w.LoadLinear([(prefix + "o_proj.weight", [h, q])], c.OutputBias ? [(prefix + "o_proj.bias", [h])] : null);
        }
        catch
        {
            _qkv.Dispose();
            throw;
        }
    }

    /// <summary>The projections (their tensors are this layer's attention weights).</summary>
    public IEnumerable<LinearWeight> Projections => [_qkv, _out];

    /// <summary>Every tensor this module owns, in a fixed order (see <see cref="DecoderLayer.Tensors"/>).</summary>
    public IEnumerable<Tensor> Tensors => Projections.SelectMany(p => p.Tensors);

    /// <param name="x">[B, T, hidden], already normed.</param>
    /// <param name="batch">Positions, slots, rotary tables and mask of this pass.</param>
    /// <param name="keys">This layer's key cache [slots, KV, context, D].</param>
    /// <param name="values">This layer's value cache [slots, KV, context, D].</param>
    /// <returns>[B, T, hidden]</returns>
    public Tensor Forward(Tensor x, AttentionBatch batch, Tensor keys, Tensor values)
    {
        long b = batch.Batch, t = batch.Tokens, s = batch.KeyLength;
        int qd = _heads * _headDim, kvd = _kvHeads * _headDim, groups = _heads / _kvHeads;

        var qkv = _qkv.Forward(x);                                      // [B, T, (H+2KV) D]
        Tensor q;                                                                           // [B, T, H, D]
        if (CudaNative.KernelsFor(qkv))
        {
            // Rotation and the cache write in one kernel.
            q = CudaNative.RopeKv(qkv, batch.Rope.CosTable, batch.Rope.SinTable, batch.Positions, batch.Slots, keys, values, _heads, _kvHeads);
        }
        else
        {
            // Queries and keys are rotated together: [B, T, H + KV, D].
            var qk = RotaryEmbedding.Apply(qkv.narrow(-1, 0, qd + kvd).view(b, t, _heads + _kvHeads, _headDim), batch.Cos, batch.Sin);
            q = qk.narrow(2, 0, _heads);
            var k = qk.narrow(2, _heads, _kvHeads);                                         // [B, T, KV, D]
            var v = qkv.narrow(-1, qd + kvd, kvd).view(b, t, _kvHeads, _headDim);           // [B, T, KV, D]

            // Write the new keys/values at (slot, :, position, :); indexed by [B, 1] x [B, T] the target is [B, T, KV, D].
            var at = new[] { TensorIndex.Tensor(batch.SlotColumn), TensorIndex.Colon, TensorIndex.Tensor(batch.Positions) };
            keys.index_put_(k, at);
            values.index_put_(v, at);
        }

        var cachedK = ReadRows(keys, batch, s);                                             // [B, KV, S, D]
        var cachedV = ReadRows(values, batch, s);                                           // [B, KV, S, D]

        // Group query heads under their key head so keys are shared, not repeated: [B, KV, G T, D].
        var grouped = q.transpose(1, 2).reshape(b, _kvHeads, groups * t, _headDim);
        var context = (x.device.type == DeviceType.CUDA ? Explicit(grouped, cachedK, cachedV, batch) : Fused(grouped, cachedK, cachedV, batch))
            .view(b, _heads, t, _headDim)
            .transpose(1, 2)
            .reshape(b, t, qd);                                                             // [B, T, H D]
        return _out.Forward(context);
    }

    /// <summary>
    /// softmax(q k^T / sqrt(D) + mask) v as one fused kernel (scaled_dot_product_attention): the fewest ops, which is
    /// what sets a CPU stage's speed. q [B, KV, G T, D], k and v [B, KV, S, D]; returns [B, KV, G T, D].
    /// </summary>
    private static Tensor Fused(Tensor q, Tensor k, Tensor v, AttentionBatch batch) =>
        F.scaled_dot_product_attention(q, k, v, batch.Bias);

    /// <summary>
    /// The same in three kernels: scores = mask + (q k^T) / sqrt(D) in one batched GEMM (the mask as its addend), softmax
    /// (float32 inside), probs v. On CUDA this beats the fused kernel libtorch picks for these shapes (cuDNN's, which also
    /// plans itself anew for every new key length, i.e. every eager decode step: 77 ms per step for an 8B model).
    /// </summary>
    private Tensor Explicit(Tensor q, Tensor k, Tensor v, AttentionBatch batch)
    {
        long b = q.shape[0], rows = q.shape[2], s = k.shape[2];
        var q3 = q.reshape(b * _kvHeads, rows, _headDim);
        var kT = k.reshape(b * _kvHeads, s, _headDim).transpose(1, 2);                     // [B KV, D, S]
        float scale = (float)(1.0 / Math.Sqrt(_headDim));
        var scores = batch.HeadBias is null
            ? bmm(q3, kT).mul_(scale)
            : AddBatchedProduct(batch.HeadBias, q3, kT, scale);                            // [B KV, G T, S]
        var probs = F.softmax(scores, -1);
        return bmm(probs, v.reshape(b * _kvHeads, s, _headDim)).view(b, _kvHeads, rows, _headDim);
    }

    /// <summary>
    /// input + alpha (b1 @ b2), batched: libtorch's baddbmm. TorchSharp 0.107 passes baddbmm's operands to libtorch in the
    /// wrong order (<c>x.baddbmm(b1, b2)</c> computes <c>b2 + b1 @ ... </c>: its THSTensor_baddbmm takes (batch1, batch2,
    /// input) while the binding hands it (this, batch1, batch2)), so it is called here in the order that gives the right
    /// result; AttentionTests pins that against matmul + add, and fails if a TorchSharp upgrade fixes the binding.
    /// </summary>
    internal static Tensor AddBatchedProduct(Tensor input, Tensor b1, Tensor b2, float alpha) =>
        b1.baddbmm(b2, input, beta: 1, alpha: alpha);

    /// <summary>Rows of the batch's slots, positions [0, length): a view when the slots are consecutive, else a gather.</summary>
    private static Tensor ReadRows(Tensor cache, AttentionBatch batch, long length)
    {
        var prefix = cache.narrow(2, 0, length);
        return batch.FirstSlot is int first
            ? prefix.narrow(0, first, batch.Batch)
            : prefix.index_select(0, batch.Slots);
    }

    public void Dispose()
    {
        _qkv.Dispose();
        _out.Dispose();
    }
}
