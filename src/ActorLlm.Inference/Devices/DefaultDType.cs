using System.Text.Json;
using System.Text.Json.Nodes;
using ActorLlm.Protocol;

namespace ActorLlm.Inference.Devices;

/// <summary>
/// The dtype a stage computes in when none is asked for: on a CUDA device the model's own (config.json's
/// <c>dtype</c> as transformers 5 writes it, or <c>torch_dtype</c> as transformers 4 did), so a bf16 checkpoint runs in
/// bf16 there; f32 when the config names none. On the CPU always f32: libtorch's CPU bf16/f16 matmuls are far slower
/// than f32 ones, and f32 is the reference every conformance check is made against.
/// </summary>
public static class DefaultDType
{
    /// <summary>
    /// <paramref name="asked"/> when given; else as above for a device that <paramref name="cuda"/> says is a GPU.
    /// A config dtype that names no floating-point type a stage computes in is an error naming
    /// <paramref name="source"/> and the key (only when it would be used).
    /// </summary>
    public static DType Choose(DType? asked, bool cuda, JsonObject config, string source)
    {
        if (asked is { } given)
        {
            return given;
        }

        if (!cuda)
        {
            return DType.F32;
        }

        foreach (string key in new[] { "dtype", "torch_dtype" })
        {
            if (!config.TryGetPropertyValue(key, out var value) || value is null)
            {
                continue;
            }

            if (value.GetValueKind() != JsonValueKind.String)
            {
                throw new ModelFormatException($"{source}: '{key}' must be a string such as \"bfloat16\", got {value.ToJsonString()}");
            }

            string name = value.GetValue<string>();
            return DTypes.TryParse(name) ?? throw new ModelFormatException(
                $"{source}: '{key}' is \"{name}\", which a stage does not compute in (float32, float16 or bfloat16); give the dtype (--dtype, actorllm.worker.dtype)");
        }

        return DType.F32;
    }
}
