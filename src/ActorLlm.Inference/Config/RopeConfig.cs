using System.Text.Json.Nodes;

namespace ActorLlm.Inference.Config;

/// <summary>The kinds of rotary-embedding frequency scaling this build computes.</summary>
public enum RopeType
{
    /// <summary>Plain RoPE: inv_freq = theta^(-2i/d).</summary>
    Default,

    /// <summary>Position interpolation: every frequency divided by <c>factor</c>.</summary>
    Linear,

    /// <summary>Llama 3.1's wavelength-dependent scaling (low/high frequency factors).</summary>
    Llama3,
}

/// <summary>
/// Rotary embedding settings. Hugging Face transformers 4 writes them as top-level <c>rope_theta</c> plus
/// <c>rope_scaling {rope_type|type, factor, ...}</c>; transformers 5 as <c>rope_parameters {rope_type, rope_theta, ...}</c>.
/// Both spellings are read.
/// </summary>
public sealed record RopeConfig(
    RopeType Type,
    double Theta,
    double Factor,
    double LowFreqFactor,
    double HighFreqFactor,
    int OriginalMaxPositionEmbeddings)
{
    internal static RopeConfig Parse(JsonObject c, int headDim, int maxPositions)
    {
        // transformers 5: everything under rope_parameters; transformers 4: rope_theta + rope_scaling.
        JsonObject? scaling = c["rope_parameters"] as JsonObject ?? c["rope_scaling"] as JsonObject;
        double theta = (scaling is null ? null : ModelConfig.Double(scaling, "rope_theta")) ?? ModelConfig.Double(c, "rope_theta") ?? 10000.0;
        if (theta <= 0)
        {
            throw new ModelFormatException($"rope_theta must be positive, got {theta}");
        }

        string type = scaling is null ? "default" : ModelConfig.Str(scaling, "rope_type") ?? ModelConfig.Str(scaling, "type") ?? "default";
        if (scaling is not null && ModelConfig.Double(scaling, "partial_rotary_factor") is double partial && partial != 1.0)
        {
            throw new ModelFormatException($"partial_rotary_factor {partial} is not supported (head_dim {headDim} is rotated whole)");
        }

        double Factor() => scaling is not null && ModelConfig.Double(scaling, "factor") is double f && f > 0
            ? f
            : throw new ModelFormatException($"rope scaling '{type}' needs a positive factor");

        return type switch
        {
            "default" => new RopeConfig(RopeType.Default, theta, 1.0, 0, 0, maxPositions),
            "linear" => new RopeConfig(RopeType.Linear, theta, Factor(), 0, 0, maxPositions),
            "llama3" => new RopeConfig(
                RopeType.Llama3,
                theta,
                Factor(),
                ModelConfig.Double(scaling!, "low_freq_factor") ?? throw new ModelFormatException("llama3 rope scaling needs low_freq_factor"),
                ModelConfig.Double(scaling!, "high_freq_factor") ?? throw new ModelFormatException("llama3 rope scaling needs high_freq_factor"),
                ModelConfig.Int(scaling!, "original_max_position_embeddings") ?? throw new ModelFormatException("llama3 rope scaling needs original_max_position_embeddings")),
            _ => throw new ModelFormatException($"unsupported rope type '{type}' (supported: default, linear, llama3)"),
        };
    }
}
