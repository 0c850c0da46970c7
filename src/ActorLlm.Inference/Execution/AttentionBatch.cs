using ActorLlm.Inference.Model;
using static TorchSharp.torch;

namespace ActorLlm.Inference.Execution;

/// <summary>
/// What every layer of one forward pass shares: B sessions of T new tokens each, their KV cache slots, their
/// positions, the rotary tables at those positions and the attention mask. Built once per pass, not per layer.
/// Row b's tokens sit at positions start[b] .. start[b]+T-1; every row reads keys [0, KeyLength).
/// </summary>
public sealed class AttentionBatch
{
    public AttentionBatch(int[] slots, int[] starts, int tokens, RotaryEmbedding rope, int? slidingWindow, Device device)
    {
        Batch = slots.Length;
        Tokens = tokens;
        KeyLength = starts.Max() + tokens;
        Slots = tensor(slots.Select(s => (long)s).ToArray(), ScalarType.Int64, device);             // [B]
        SlotColumn = Slots.unsqueeze(1);                                                             // [B, 1]
        var offsets = arange(tokens, ScalarType.Int64, device).unsqueeze(0);                         // [1, T]
        var startTensor = tensor(starts.Select(s => (long)s).ToArray(), ScalarType.Int64, device);
        Positions = startTensor.unsqueeze(1) + offsets;                                              // [B, T]
        (Cos, Sin) = rope.At(Positions);

        // Consecutive slots can be read as a view instead of gathered.
        bool consecutive = slots.Zip(slots.Skip(1)).All(p => p.Second == p.First + 1);
        FirstSlot = consecutive ? slots[0] : null;

        // No mask is needed when every row attends to all KeyLength keys: one new token per row, all rows equally long.
        bool sameLength = starts.All(s => s == starts[0]);
        bool windowBites = slidingWindow is int w && KeyLength > w;
        if (tokens > 1 || !sameLength || windowBites)
        {
            var keys = arange(KeyLength, ScalarType.Int64, device).view(1, 1, -1);                   // [1, 1, S]
            var query = Positions.unsqueeze(2);                                                      // [B, T, 1]
            var blocked = keys > query;                                                              // future keys
            if (slidingWindow is int window)
            {
                blocked = blocked.logical_or(keys <= query - window);                                // beyond the window
            }

            Blocked = blocked.view(Batch, 1, 1, tokens, KeyLength);                                  // [B, 1, 1, T, S]
        }
    }

    public int Batch { get; }

    public int Tokens { get; }

    /// <summary>Keys [0, KeyLength) are read for every row (the longest row's length after this pass).</summary>
    public int KeyLength { get; }

    /// <summary>[B] int64 cache slots.</summary>
    public Tensor Slots { get; }

    /// <summary>[B, 1] int64, for indexed writes into the cache.</summary>
    public Tensor SlotColumn { get; }

    /// <summary>[B, T] int64 absolute positions of the new tokens.</summary>
    public Tensor Positions { get; }

    /// <summary>[B, T, 1, D]</summary>
    public Tensor Cos { get; }

    /// <summary>[B, T, 1, D]</summary>
    public Tensor Sin { get; }

    /// <summary>Set when the rows' slots are consecutive: the cache rows can be narrowed, not gathered.</summary>
    public int? FirstSlot { get; }

    /// <summary>[B, 1, 1, T, S] true where a query must not see a key (the future, or beyond the sliding window); null if none.</summary>
    public Tensor? Blocked { get; }
}
