using ActorLlm.Inference.Config;
using ActorLlm.Protocol;
using static TorchSharp.torch;

namespace ActorLlm.Inference.Checkpoints;

/// <summary>
/// A weight source that reports, after each tensor it reads, how many of a range's tensor bytes have been read
/// (<c>progress(done, total)</c>): how a load of gigabytes shows its progress. Everything else is the inner source's;
/// disposing this does not dispose it.
/// </summary>
public sealed class ObservedWeightSource : IWeightSource
{
    private readonly IWeightSource _inner;
    private readonly Action<long, long> _progress;
    private readonly long _start;

    public ObservedWeightSource(IWeightSource inner, UnitRange range, Action<long, long> progress)
    {
        _inner = inner;
        _progress = progress;
        _start = inner.BytesRead;
        Total = RangeBytes(inner, range);
    }

    /// <summary>Tensor data bytes of the range's required tensors as stored (a tensor two units share counted once).</summary>
    public long Total { get; }

    public static long RangeBytes(IWeightSource source, UnitRange range) =>
        Enumerable.Range(range.Start, range.Count)
            .SelectMany(u => UnitTensors.Required(source.Config, u, source.Contains))
            .Distinct(StringComparer.Ordinal)
            .Where(source.Contains)
            .Sum(name => source.Describe(name).Length);

    public string Directory => _inner.Directory;

    public ModelConfig Config => _inner.Config;

    public IReadOnlyCollection<string> TensorNames => _inner.TensorNames;

    public WeightFormat Weights => _inner.Weights;

    public long BytesRead => _inner.BytesRead;

    public bool Contains(string tensorName) => _inner.Contains(tensorName);

    public TensorInfo Describe(string tensorName) => _inner.Describe(tensorName);

    public Tensor Load(string tensorName)
    {
        var tensor = _inner.Load(tensorName);
        _progress(Math.Min(Total, _inner.BytesRead - _start), Total);
        return tensor;
    }

    public void Dispose()
    {
    }
}
