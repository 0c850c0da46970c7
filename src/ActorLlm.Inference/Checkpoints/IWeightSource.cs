using ActorLlm.Inference.Config;
using static TorchSharp.torch;

namespace ActorLlm.Inference.Checkpoints;

/// <summary>
/// Where a model's weights come from: a Hugging Face directory or a unit store. Tensors are read on request,
/// so a stage that serves a few layers reads only those layers' bytes.
/// </summary>
public interface IWeightSource : IDisposable
{
    string Directory { get; }

    ModelConfig Config { get; }

    bool Contains(string tensorName);

    /// <summary>Reads one tensor into a new CPU tensor of its stored dtype. The caller owns it.</summary>
    Tensor Load(string tensorName);

    /// <summary>Tensor data bytes read so far (headers excluded): how a test proves a range loads only its own tensors.</summary>
    long BytesRead { get; }
}
