using ActorLlm.Inference.Checkpoints;
using ActorLlm.Inference.Devices;
using static TorchSharp.torch;

namespace ActorLlm.Inference.Model;

/// <summary>Reads named tensors from a weight source, checks their shapes, and puts them on the target device and dtype.</summary>
public sealed class WeightLoader(IWeightSource source, ComputeTarget target)
{
    public IWeightSource Source { get; } = source;

    public ComputeTarget Target { get; } = target;

    /// <summary>Loads <paramref name="name"/>, which must have exactly <paramref name="shape"/>.</summary>
    public Tensor Load(string name, params long[] shape)
    {
        if (!Source.Contains(name))
        {
            throw new ModelFormatException($"'{Source.Directory}': missing tensor '{name}'");
        }

        using var cpu = Source.Load(name);
        if (!cpu.shape.SequenceEqual(shape))
        {
            throw new ModelFormatException(
                $"'{Source.Directory}': tensor '{name}' has shape [{string.Join(", ", cpu.shape)}], expected [{string.Join(", ", shape)}] from config.json");
        }

        return cpu.to(Target.DType, Target.Device, copy: true);
    }

    /// <summary>Loads several tensors and concatenates them along dim 0 (fused q/k/v, fused gate/up).</summary>
    public Tensor LoadConcat(params (string Name, long[] Shape)[] parts)
    {
        var loaded = parts.Select(p => Load(p.Name, p.Shape)).ToArray();
        try
        {
            return cat(loaded, 0);
        }
        finally
        {
            foreach (var t in loaded)
            {
                t.Dispose();
            }
        }
    }
}
