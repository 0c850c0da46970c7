using ActorLlm.Inference.Checkpoints;
using ActorLlm.Inference.Devices;
using static TorchSharp.torch;

namespace ActorLlm.Inference.Model;

/// <summary>
/// Reads named tensors from a weight source, checks their shapes, and puts them on the target device and dtype. With
/// <c>pinned</c> the target must be the CPU and every tensor comes back in page-locked memory (the host copy of a
/// streamed layer, which a GPU copies from asynchronously; pinning needs a CUDA libtorch).
/// </summary>
public sealed class WeightLoader
{
    public WeightLoader(IWeightSource source, ComputeTarget target, bool pinned = false)
    {
        if (pinned && target.Device.type != TorchSharp.DeviceType.CPU)
        {
            throw new ArgumentException($"only host tensors can be pinned, not tensors on {target.Device}", nameof(pinned));
        }

        Source = source;
        Target = target;
        Pinned = pinned;
    }

    public IWeightSource Source { get; }

    public ComputeTarget Target { get; }

    /// <summary>Whether tensors are loaded into page-locked host memory.</summary>
    public bool Pinned { get; }

    /// <summary>Loads <paramref name="name"/>, which must have exactly <paramref name="shape"/>.</summary>
    public Tensor Load(string name, params long[] shape)
    {
        if (!Pinned)
        {
            return Read(name, shape);
        }

        using var host = Read(name, shape);
        return host.pin_memory();
    }

    /// <summary>Loads several tensors and concatenates them along dim 0 (fused q/k/v, fused gate/up).</summary>
    public Tensor LoadConcat(params (string Name, long[] Shape)[] parts)
    {
        var loaded = parts.Select(p => Read(p.Name, p.Shape)).ToArray();
        try
        {
            if (!Pinned)
            {
                return cat(loaded, 0);
            }

            using var joined = cat(loaded, 0);
            return joined.pin_memory();
        }
        finally
        {
            foreach (var t in loaded)
            {
                t.Dispose();
            }
        }
    }

    /// <summary>The tensor on the target device and dtype (pageable when the target is the host).</summary>
    private Tensor Read(string name, long[] shape)
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
}
