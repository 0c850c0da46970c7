using ActorLlm.Inference.Model;
using static TorchSharp.torch;

namespace ActorLlm.Inference.Execution;

/// <summary>
/// What every layer of one forward pass shares: B sessions of T new tokens each, their KV cache slots, their
/// positions, the rotary tables at those positions and the attention mask. Built once per pass, not per layer.
/// Row b's tokens sit at positions start[b] .. start[b]+T-1; every row reads keys [0, KeyLength). The mask is additive,
/// in the model dtype and laid out for attention with query heads grouped under their key head (G of them per KV head),
/// so one fused attention kernel per layer takes it as it is.
/// </summary>
public sealed class AttentionBatch
{
    /// <summary>A pass built from host arrays: row b is the session in cache slot <paramref name="slots"/>[b].</summary>
    public AttentionBatch(int[] slots, int[] starts, int tokens, RotaryEmbedding rope, int? slidingWindow, int groups, int kvHeads, ScalarType dtype, Device device)
    {
        Batch = slots.Length;
        Tokens = tokens;
        KeyLength = starts.Max() + tokens;
        Slots = tensor(slots.Select(s => (long)s).ToArray(), ScalarType.Int64, device);             // [B]
        SlotColumn = Slots.unsqueeze(1);                                                             // [B, 1]
        var offsets = arange(tokens, ScalarType.Int64, device).unsqueeze(0);                         // [1, T]
        var startTensor = tensor(starts.Select(s => (long)s).ToArray(), ScalarType.Int64, device);
        Positions = startTensor.unsqueeze(1) + offsets;                                              // [B, T]
        Rope = rope;
        (Cos, Sin) = rope.At(Positions);

        // Consecutive slots can be read as a view instead of gathered.
        bool consecutive = slots.Zip(slots.Skip(1)).All(p => p.Second == p.First + 1);
        FirstSlot = consecutive ? slots[0] : null;

        // No mask is needed when every row attends to all KeyLength keys: one new token per row, all rows equally long.
        bool sameLength = starts.All(s => s == starts[0]);
        bool windowBites = slidingWindow is int w && KeyLength > w;
        if (tokens > 1 || !sameLength || windowBites)
        {
            Bias = Mask(Positions, KeyLength, slidingWindow, groups, dtype, device);
            HeadBias = PerHead(Bias, kvHeads, device);
        }
    }

    private AttentionBatch(Tensor positions, int keyLength, RotaryEmbedding rope, int? slidingWindow, int groups, int kvHeads, ScalarType dtype, Device device)
    {
        Batch = (int)positions.shape[0];
        Tokens = 1;
        KeyLength = keyLength;
        Slots = arange(Batch, ScalarType.Int64, device);
        SlotColumn = Slots.unsqueeze(1);
        Positions = positions;
        Rope = rope;
        (Cos, Sin) = rope.At(Positions);
        FirstSlot = 0;
        Bias = Mask(Positions, KeyLength, slidingWindow, groups, dtype, device);
        HeadBias = PerHead(Bias, kvHeads, device);
    }

    /// <summary>On CUDA, the mask copied out per key head, [B KV, G T, S], the addend of one batched GEMM (see Attention).</summary>
    private static Tensor? PerHead(Tensor bias, int kvHeads, Device device)
    {
        if (device.type != TorchSharp.DeviceType.CUDA)
        {
            return null;
        }

        long b = bias.shape[0], rows = bias.shape[2], s = bias.shape[3];
        return bias.expand(b, kvHeads, rows, s).reshape(b * kvHeads, rows, s);
    }

    /// <summary>
    /// A decode pass over cache rows 0..N-1 whose positions live on the device (shapes fixed by N and
    /// <paramref name="keyLength"/>, values refreshed in place: what a CUDA graph captures). Row r is slot r; every
    /// row reads keys [0, keyLength) masked beyond its own position, so rows of any lengths share one pass.
    /// </summary>
    /// <param name="positions">[N, 1] int64 on the device: the position each row writes and attends from.</param>
    public static AttentionBatch ForRows(Tensor positions, int keyLength, RotaryEmbedding rope, int? slidingWindow, int groups, int kvHeads, ScalarType dtype, Device device) =>
        new(positions, keyLength, rope, slidingWindow, groups, kvHeads, dtype, device);

    /// <summary>
    /// [B, 1, G T, S] (or [B, 1, 1, S] for one token): -inf where a query must not see a key (the future, or beyond the
    /// sliding window), 0 elsewhere; row g T + t of a group is token t.
    /// </summary>
    private static Tensor Mask(Tensor positions, int keyLength, int? slidingWindow, int groups, ScalarType dtype, Device device)
    {
        long b = positions.shape[0], t = positions.shape[1];
        var keys = arange(keyLength, ScalarType.Int64, device).view(1, 1, -1);                       // [1, 1, S]
        var query = positions.unsqueeze(2);                                                          // [B, T, 1]
        var blocked = keys > query;                                                                  // future keys
        if (slidingWindow is int window)
        {
            blocked = blocked.logical_or(keys <= query - window);                                    // beyond the window
        }

        var bias = zeros([b, t, keyLength], dtype, device).masked_fill_(blocked, double.NegativeInfinity);
        return t == 1
            ? bias.view(b, 1, 1, keyLength)
            : bias.view(b, 1, 1, t, keyLength).expand(b, 1, groups, t, keyLength).reshape(b, 1, groups * t, keyLength);
    }

    public int Batch { get; }

    /// <summary>The stage's rotary tables.</summary>
    public RotaryEmbedding Rope { get; }

    public int Tokens { get; }

    /// <summary>Keys [0, KeyLength) are read for every row (the longest row's length after this pass).</summary>
    public int KeyLength { get; }

    /// <summary>[B] int64 cache slots.</summary>
    public Tensor Slots { get; }

    /// <summary>[B, 1] int64, for indexed writes into the cache.</summary>
    public Tensor SlotColumn { get; }

    /// <summary>[B, T] int64 absolute positions of the new tokens.</summary>
    public Tensor Positions { get; }

    /// <summary>[B, T, 1, D]: cos at each position.</summary>
    public Tensor Cos { get; }

    /// <summary>[B, T, 1, D]: sin at each position, its first half negated (see <see cref="RotaryEmbedding.Apply"/>).</summary>
    public Tensor Sin { get; }

    /// <summary>Set when the rows' slots are consecutive: the cache rows can be narrowed, not gathered.</summary>
    public int? FirstSlot { get; }

    /// <summary>Additive mask [B, 1, G T, S] ([B, 1, 1, S] for one token) in the model dtype; null if every row sees every key.</summary>
    public Tensor? Bias { get; }

    /// <summary><see cref="Bias"/> as [B KV, G T, S] on CUDA (null elsewhere, or without a mask).</summary>
    public Tensor? HeadBias { get; }
}
