using ActorLlm.Inference.Checkpoints;
using ActorLlm.Inference.Config;
using static TorchSharp.torch;

namespace ActorLlm.Inference.Model;

/// <summary>The begin unit: token ids to vectors by row lookup in the embedding matrix.</summary>
public sealed class TokenEmbedding(ModelConfig c, WeightLoader w) : IDisposable
{
    /// <summary>[vocab, hidden]</summary>
    private readonly Tensor _weight = w.Load(UnitTensors.Embedding, c.VocabSize, c.HiddenSize);

    /// <param name="ids">[B, T] int64</param>
    /// <returns>[B, T, hidden]</returns>
    public Tensor Forward(Tensor ids) => _weight.index_select(0, ids.reshape(-1)).view(ids.shape[0], ids.shape[1], -1);

    public void Dispose() => _weight.Dispose();
}
