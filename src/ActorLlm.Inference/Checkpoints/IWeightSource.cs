using System.Text.Json.Serialization;
using ActorLlm.Inference.Config;
using static TorchSharp.torch;

namespace ActorLlm.Inference.Checkpoints;

/// <summary>A tensor's name, stored dtype and shape.</summary>
public sealed record TensorInfo(string Name, [property: JsonPropertyName("dtype")] SafetensorsDType DType, long[] Shape)
{
    [JsonIgnore]
    public long ElementCount => Shape.Aggregate(1L, (a, b) => a * b);

    /// <summary>Data bytes as stored.</summary>
    [JsonIgnore]
    public long Length => ElementCount * DType.Size();
}

/// <summary>
/// Where a model's weights come from: a Hugging Face directory or a unit store. Tensors are read on request,
/// so a stage that serves a few layers reads only those layers' bytes.
/// </summary>
public interface IWeightSource : IDisposable
{
    string Directory { get; }

    ModelConfig Config { get; }

    bool Contains(string tensorName);

    /// <summary>Every tensor name the source holds (including ones no unit uses, such as rotary buffers).</summary>
    IReadOnlyCollection<string> TensorNames { get; }

    /// <summary>A tensor's dtype and shape, from headers or a manifest: reads no tensor data.</summary>
    TensorInfo Describe(string tensorName);

    /// <summary>Reads one tensor into a new CPU tensor of its stored dtype. The caller owns it.</summary>
    Tensor Load(string tensorName);

    /// <summary>
    /// How the weights are stored: <see cref="WeightFormat.Source"/> unless a unit store's manifest says otherwise
    /// (a Hugging Face directory is always in its own dtype).
    /// </summary>
    WeightFormat Weights => WeightFormat.Source;

    /// <summary>Tensor data bytes read so far (headers excluded): how a test proves a range loads only its own tensors.</summary>
    long BytesRead { get; }
}
