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

    /// <summary>Loads <paramref name="name"/>, which must have exactly <paramref name="shape"/>, in the compute dtype.</summary>
    public Tensor Load(string name, params long[] shape) => LoadAs(name, shape, Target.DType);

    private Tensor LoadAs(string name, long[] shape, ScalarType dtype)
    {
        using var cpu = Read(name, shape);
        if (!cpu.is_floating_point())
        {
            throw new ModelFormatException(
                $"'{Source.Directory}': tensor '{name}' is {cpu.dtype}, not floating point (weights stored as '{Source.Weights.Name()}'): refusing to read it as {dtype}");
        }

        return Pin(cpu.to(dtype, Target.Device, copy: true));
    }

    /// <summary>Loads several tensors and concatenates them along dim 0 (fused q/k/v, fused gate/up).</summary>
    public Tensor LoadConcat(params (string Name, long[] Shape)[] parts) => Concat(LoadAll(parts, p => Load(p.Name, p.Shape)));

    /// <summary>
    /// A projection whose weight is <paramref name="parts"/> concatenated along dim 0 (each [out_i, in]), with the
    /// concatenated <paramref name="biases"/> when given. In an int8 store each part is its int8 data and per-row scale
    /// (rows keep their own scales, so concatenating is exact); otherwise the weights in the compute dtype.
    /// </summary>
    public LinearWeight LoadLinear((string Name, long[] Shape)[] parts, (string Name, long[] Shape)[]? biases = null)
    {
        var created = new List<Tensor>();
        try
        {
            Tensor weight;
            Tensor? scale = null;
            if (Source.Weights == WeightFormat.Int8AbsmaxPerChannel)
            {
                // Scales stay f32 on the device too: [out] values, a rounding fewer for nothing worth counting.
                weight = Track(Concat(LoadAll(parts, p => LoadInt8(p.Name, p.Shape))), created);
                scale = Track(Concat(LoadAll(parts, p => LoadAs(Int8Quantization.ScaleName(p.Name), [p.Shape[0]], ScalarType.Float32))), created);
            }
            else
            {
                weight = Track(LoadConcat(parts), created);
            }

            var bias = biases is null ? null : Track(LoadConcat(biases), created);
            return new LinearWeight(weight, scale, bias);
        }
        catch
        {
            created.ForEach(t => t.Dispose());
            throw;
        }
    }

    /// <summary>An int8 weight as stored (no conversion), on the device.</summary>
    private Tensor LoadInt8(string name, long[] shape)
    {
        using var cpu = Read(name, shape);
        if (cpu.dtype != ScalarType.Int8)
        {
            throw new ModelFormatException($"'{Source.Directory}': tensor '{name}' is {cpu.dtype}, but the store's weights are '{Source.Weights.Name()}' (int8)");
        }

        return Pin(cpu.to(Target.Device, copy: true));
    }

    private Tensor Read(string name, long[] shape)
    {
        if (!Source.Contains(name))
        {
            throw new ModelFormatException($"'{Source.Directory}': missing tensor '{name}'");
        }

        var cpu = Source.Load(name);
        long[] actual = cpu.shape;
        if (!actual.SequenceEqual(shape))
        {
            cpu.Dispose();
            throw new ModelFormatException(
                $"'{Source.Directory}': tensor '{name}' has shape [{string.Join(", ", actual)}], expected [{string.Join(", ", shape)}] from config.json");
        }

        return cpu;
    }

    /// <summary><paramref name="t"/> itself, or when loading pinned its page-locked copy (the pageable one disposed).</summary>
    private Tensor Pin(Tensor t)
    {
        if (!Pinned)
        {
            return t;
        }

        using (t)
        {
            return t.pin_memory();
        }
    }

    /// <summary>Loads every part, or none: on a failure the parts loaded so far are disposed.</summary>
    private static Tensor[] LoadAll((string Name, long[] Shape)[] parts, Func<(string Name, long[] Shape), Tensor> load)
    {
        var loaded = new List<Tensor>();
        try
        {
            foreach (var p in parts)
            {
                loaded.Add(load(p));
            }

            return [.. loaded];
        }
        catch
        {
            loaded.ForEach(t => t.Dispose());
            throw;
        }
    }

    private static Tensor Track(Tensor t, List<Tensor> created)
    {
        created.Add(t);
        return t;
    }

    private Tensor Concat(Tensor[] loaded)
    {
        if (loaded.Length == 1)
        {
            return loaded[0];
        }

        try
        {
            return Pin(cat(loaded, 0));
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
