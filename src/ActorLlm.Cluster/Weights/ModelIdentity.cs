using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using ActorLlm.Inference.Checkpoints;
using ActorLlm.Protocol;

namespace ActorLlm.Cluster.Weights;

/// <summary>
/// A short, stable name for "this exact model": the architecture (config.json) and the bytes of every unit. Two
/// stores with the same identity serve interchangeable units, so the coordinator can refuse a worker whose store
/// holds a different model (another fine-tune with the same config, another dtype) before routing through it.
/// </summary>
public static class ModelIdentity
{
    /// <summary>Hex digits kept: 64 bits make an accidental collision within one cluster implausible.</summary>
    public const int Length = 16;

    /// <summary>
    /// The first <see cref="Length"/> lowercase hex digits of a sha256 over the config (keys sorted, so key order
    /// and whitespace in config.json do not matter) and each unit's name, size and sha256, in unit order.
    /// </summary>
    public static ModelId Of(StoreManifest manifest)
    {
        var text = new StringBuilder("actorllm-model-identity-v1\n");
        text.Append(Canonical(manifest.Config)!.ToJsonString()).Append('\n');
        foreach (var u in manifest.Units)
        {
            text.Append(u.Name).Append(' ').Append(u.Bytes).Append(' ').Append(u.Sha256).Append('\n');
        }

        byte[] hash = SHA256.HashData(Encoding.UTF8.GetBytes(text.ToString()));
        return new ModelId(Convert.ToHexStringLower(hash)[..Length]);
    }

    /// <summary>A deep copy with object keys in ordinal order; values (numbers included) keep their JSON text.</summary>
    private static JsonNode? Canonical(JsonNode? node) => node switch
    {
        JsonObject o => new JsonObject(o.OrderBy(p => p.Key, StringComparer.Ordinal)
            .Select(p => KeyValuePair.Create(p.Key, Canonical(p.Value)))),
        JsonArray a => new JsonArray(a.Select(Canonical).ToArray()),
        null => null,
        _ => node.DeepClone(),
    };
}
