using ActorLlm.Inference.Config;
using ActorLlm.Protocol;

namespace ActorLlm.Inference.Checkpoints;

/// <summary>
/// Which Hugging Face tensor names make up each unit. Names are kept exactly as transformers writes them, so
/// checkpoints load without renaming tables.
/// </summary>
public static class UnitTensors
{
    public const string Embedding = "model.embed_tokens.weight";
    public const string FinalNorm = "model.norm.weight";
    public const string LmHead = "lm_head.weight";

    public static string LayerPrefix(int layer) => $"model.layers.{layer}.";

    /// <summary>
    /// The tensors unit <paramref name="unit"/> needs, required ones first. For the end unit of a model with tied
    /// embeddings (or no <c>lm_head.weight</c>), the head is the embedding matrix, listed under its own name.
    /// </summary>
    public static IReadOnlyList<string> Required(ModelConfig config, int unit, Func<string, bool> contains)
    {
        if (unit == 0)
        {
            return [Embedding];
        }

        if (unit == config.NumLayers + 1)
        {
            return [FinalNorm, HeadName(contains)];
        }

        int layer = unit - 1;
        string p = LayerPrefix(layer);
        var names = new List<string>
        {
            p + "input_layernorm.weight",
            p + "self_attn.q_proj.weight",
            p + "self_attn.k_proj.weight",
            p + "self_attn.v_proj.weight",
            p + "self_attn.o_proj.weight",
            p + "post_attention_layernorm.weight",
            p + "mlp.gate_proj.weight",
            p + "mlp.up_proj.weight",
            p + "mlp.down_proj.weight",
        };
        if (config.QkvBias)
        {
            names.AddRange([p + "self_attn.q_proj.bias", p + "self_attn.k_proj.bias", p + "self_attn.v_proj.bias"]);
        }

        if (config.OutputBias)
        {
            names.Add(p + "self_attn.o_proj.bias");
        }

        if (config.MlpBias)
        {
            names.AddRange([p + "mlp.gate_proj.bias", p + "mlp.up_proj.bias", p + "mlp.down_proj.bias"]);
        }

        return names;
    }

    /// <summary>
    /// The weights <see cref="WeightFormat.Int8AbsmaxPerChannel"/> stores in 8 bits: a layer unit's seven linear
    /// projection weights (q, k, v, o, gate, up, down); none for the begin and end units (embedding, final norm and
    /// LM head stay in the source dtype).
    /// </summary>
    public static IReadOnlyList<string> QuantizedWeights(ModelConfig config, int unit)
    {
        if (unit <= 0 || unit > config.NumLayers)
        {
            return [];
        }

        string p = LayerPrefix(unit - 1);
        return
        [
            p + "self_attn.q_proj.weight", p + "self_attn.k_proj.weight", p + "self_attn.v_proj.weight", p + "self_attn.o_proj.weight",
            p + "mlp.gate_proj.weight", p + "mlp.up_proj.weight", p + "mlp.down_proj.weight",
        ];
    }

    /// <summary>
    /// The LM head's tensor: <c>lm_head.weight</c> where the checkpoint has it, else the embedding matrix (tied
    /// embeddings). A tied checkpoint that stores <c>lm_head.weight</c> stores the same matrix, and a unit store
    /// writes the head of a tied model under that name so the end unit is self-contained.
    /// </summary>
    public static string HeadName(Func<string, bool> contains) =>
        contains(LmHead) ? LmHead : Embedding;

    /// <summary>
    /// The shape <paramref name="config"/> requires of a unit tensor (the same shapes the model modules check on
    /// load), or null for a name no unit uses. Lets a conversion refuse a bad checkpoint before writing a store.
    /// </summary>
    public static long[]? ExpectedShape(ModelConfig config, string name)
    {
        long h = config.HiddenSize, i = config.IntermediateSize, v = config.VocabSize;
        long q = (long)config.NumHeads * config.HeadDim, kv = (long)config.NumKvHeads * config.HeadDim;
        if (name is Embedding or LmHead)
        {
            return [v, h];
        }

        if (name == FinalNorm)
        {
            return [h];
        }

        if (UnitOf(config, name) is not int unit || unit == 0 || unit == config.NumLayers + 1)
        {
            return null;
        }

        return name[LayerPrefix(unit - 1).Length..] switch
        {
            "input_layernorm.weight" or "post_attention_layernorm.weight" => [h],
            "self_attn.q_proj.weight" => [q, h],
            "self_attn.k_proj.weight" or "self_attn.v_proj.weight" => [kv, h],
            "self_attn.o_proj.weight" => [h, q],
            "self_attn.q_proj.bias" => [q],
            "self_attn.k_proj.bias" or "self_attn.v_proj.bias" => [kv],
            "self_attn.o_proj.bias" => [h],
            "mlp.gate_proj.weight" or "mlp.up_proj.weight" => [i, h],
            "mlp.down_proj.weight" => [h, i],
            "mlp.gate_proj.bias" or "mlp.up_proj.bias" => [i],
            "mlp.down_proj.bias" => [h],
            _ => null,
        };
    }

    /// <summary>The unit a tensor belongs to, or null for tensors no unit uses (e.g. rotary buffers).</summary>
    public static int? UnitOf(ModelConfig config, string name)
    {
        if (name == Embedding)
        {
            return 0;
        }

        if (name == FinalNorm || name == LmHead)
        {
            return config.NumLayers + 1;
        }

        if (name.StartsWith("model.layers.", StringComparison.Ordinal))
        {
            int dot = name.IndexOf('.', 13);
            if (dot > 13 && int.TryParse(name.AsSpan(13, dot - 13), out int layer) && layer >= 0 && layer < config.NumLayers)
            {
                return UnitRange.LayerUnit(layer);
            }
        }

        return null;
    }
}
