using ActorLlm.Inference.Config;
using static TorchSharp.torch;

namespace ActorLlm.Inference.Checkpoints;

/// <summary>
/// Weights made up on request for every unit of <see cref="Config"/>: float32, RMS norm weights all ones, every
/// other tensor normal with mean 0 and a small standard deviation (the scale of a freshly initialised model).
/// Lets a stage of any range be built without a checkpoint, e.g. to measure a device's speed on a model's shape.
/// </summary>
/// <remarks>
/// A tensor's values depend only on the seed and its name, not on what was loaded before, so two stages built
/// from sources with the same seed hold the same weights. Tied models get no <c>lm_head.weight</c> (the head is
/// the embedding, as in their checkpoints). Reads no files.
/// </remarks>
public sealed class RandomWeightSource : IWeightSource
{
    private readonly Dictionary<string, long[]> _shapes;
    private readonly ulong _seed;
    private readonly double _std;
    private long _bytesRead;
    private bool _disposed;

    /// <param name="config">The model whose tensors to make up.</param>
    /// <param name="seed">Same seed, same weights.</param>
    /// <param name="std">Standard deviation of the non-norm tensors.</param>
    public RandomWeightSource(ModelConfig config, ulong seed = 0, double std = 0.02)
    {
        ArgumentNullException.ThrowIfNull(config);
        if (!double.IsFinite(std) || std < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(std), $"std must be finite and at least 0, got {std}");
        }

        Config = config;
        _seed = seed;
        _std = std;
        bool Contains(string name) => name != UnitTensors.LmHead || !config.TieWordEmbeddings;
        _shapes = Enumerable.Range(0, config.UnitCount)
            .SelectMany(unit => UnitTensors.Required(config, unit, Contains))
            .Distinct()
            .ToDictionary(name => name, name => UnitTensors.ExpectedShape(config, name)
                ?? throw new InvalidOperationException($"no expected shape for unit tensor '{name}'"));
        Directory = $"(random weights, seed {seed})";
    }

    /// <summary>Not a directory: a label for error messages.</summary>
    public string Directory { get; }

    public ModelConfig Config { get; }

    public IReadOnlyCollection<string> TensorNames => _shapes.Keys;

    public long BytesRead => Interlocked.Read(ref _bytesRead);

    public bool Contains(string tensorName) => _shapes.ContainsKey(tensorName);

    public TensorInfo Describe(string tensorName) => new(tensorName, SafetensorsDType.F32, (long[])ShapeOf(tensorName).Clone());

    /// <summary>A new float32 CPU tensor; the caller owns it.</summary>
    public Tensor Load(string tensorName)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        long[] shape = ShapeOf(tensorName);
        Tensor result;
        if (IsNorm(tensorName))
        {
            result = ones(shape, ScalarType.Float32);
        }
        else
        {
            using var generator = new Generator(_seed ^ NameHash(tensorName), CPU);
            using var unit = randn(shape, ScalarType.Float32, CPU, generator: generator);
            result = unit.mul(_std);
        }

        Interlocked.Add(ref _bytesRead, result.numel() * sizeof(float));
        return result;
    }

    /// <summary>Nothing to release but the promise: loads after disposal throw, as they do for a checkpoint.</summary>
    public void Dispose() => _disposed = true;

    private long[] ShapeOf(string tensorName) =>
        _shapes.TryGetValue(tensorName, out long[]? shape)
            ? shape
            : throw new ModelFormatException($"'{Directory}': no tensor '{tensorName}' in a {Config.ModelType} of {Config.NumLayers} layers");

    private static bool IsNorm(string name) =>
        name == UnitTensors.FinalNorm || name.EndsWith("layernorm.weight", StringComparison.Ordinal);

    /// <summary>FNV-1a over the name: stable across processes, unlike <see cref="string.GetHashCode()"/>.</summary>
    private static ulong NameHash(string name)
    {
        ulong hash = 14695981039346656037UL;
        foreach (char c in name)
        {
            hash = (hash ^ c) * 1099511628211UL;
        }

        return hash;
    }
}
