using System.Text.Json;
using ActorLlm.Inference.Config;
using static TorchSharp.torch;

namespace ActorLlm.Inference.Checkpoints;

/// <summary>
/// A Hugging Face model directory: <c>config.json</c> plus a single <c>model.safetensors</c> or shards listed by
/// <c>model.safetensors.index.json</c>. Shards are opened only when one of their tensors is first needed.
/// </summary>
public sealed class HfCheckpoint : IWeightSource
{
    public const string SingleFile = "model.safetensors";
    public const string IndexFile = "model.safetensors.index.json";

    private readonly Dictionary<string, string> _fileOf;
    private readonly Dictionary<string, SafetensorsFile> _open = new(StringComparer.Ordinal);
    private readonly Lock _lock = new();

    private HfCheckpoint(string directory, ModelConfig config, Dictionary<string, string> fileOf)
    {
        Directory = directory;
        Config = config;
        _fileOf = fileOf;
    }

    public string Directory { get; }

    public ModelConfig Config { get; }

    public long BytesRead
    {
        get
        {
            lock (_lock)
            {
                return _open.Values.Sum(f => f.BytesRead);
            }
        }
    }

    /// <summary>Every tensor name the checkpoint holds.</summary>
    public IReadOnlyCollection<string> TensorNames => _fileOf.Keys;

    public static HfCheckpoint Open(string directory)
    {
        var config = ModelConfig.Load(directory);
        string index = Path.Combine(directory, IndexFile);
        string single = Path.Combine(directory, SingleFile);
        var fileOf = new Dictionary<string, string>(StringComparer.Ordinal);
        if (File.Exists(index))
        {
            ReadIndex(directory, index, fileOf);
        }
        else if (File.Exists(single))
        {
            using var f = SafetensorsFile.Open(single);
            foreach (var name in f.Entries.Keys)
            {
                fileOf[name] = single;
            }
        }
        else
        {
            throw new ModelFormatException(
                $"'{directory}' has neither {SingleFile} nor {IndexFile} (only safetensors checkpoints are supported; convert .bin/.pth first)");
        }

        return new HfCheckpoint(directory, config, fileOf);
    }

    private static void ReadIndex(string directory, string index, Dictionary<string, string> fileOf)
    {
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllBytes(index));
            if (!doc.RootElement.TryGetProperty("weight_map", out var map) || map.ValueKind != JsonValueKind.Object)
            {
                throw new ModelFormatException($"{index}: no weight_map object");
            }

            foreach (var p in map.EnumerateObject())
            {
                string file = p.Value.GetString() ?? throw new ModelFormatException($"{index}: weight_map values must be file names");
                if (file.Contains('/') || file.Contains('\\') || file.StartsWith('.'))
                {
                    throw new ModelFormatException($"{index}: shard name '{file}' must be a plain file name in the model directory");
                }

                string path = Path.Combine(directory, file);
                if (!File.Exists(path))
                {
                    throw new ModelFormatException($"{index}: shard '{file}' (holding '{p.Name}') is missing");
                }

                fileOf[p.Name] = path;
            }
        }
        catch (JsonException e)
        {
            throw new ModelFormatException($"{index}: invalid JSON: {e.Message}", e);
        }
        catch (InvalidOperationException e)
        {
            throw new ModelFormatException($"{index}: unexpected structure: {e.Message}", e);
        }
    }

    public bool Contains(string tensorName) => _fileOf.ContainsKey(tensorName);

    public TensorInfo Describe(string tensorName)
    {
        var e = Entry(tensorName);
        return new TensorInfo(e.Name, e.DType, e.Shape);
    }

    /// <summary>The header entry of one tensor (opens its shard).</summary>
    public SafetensorsEntry Entry(string tensorName) => FileFor(tensorName).Entry(tensorName);

    /// <summary>The open shard holding <paramref name="tensorName"/>.</summary>
    public SafetensorsFile FileFor(string tensorName)
    {
        if (!_fileOf.TryGetValue(tensorName, out var path))
        {
            throw new ModelFormatException($"'{Directory}': checkpoint has no tensor '{tensorName}'");
        }

        lock (_lock)
        {
            if (!_open.TryGetValue(path, out var file))
            {
                file = SafetensorsFile.Open(path);
                _open[path] = file;
            }

            if (!file.Entries.ContainsKey(tensorName))
            {
                throw new ModelFormatException($"{path}: the index says it holds '{tensorName}' but it does not");
            }

            return file;
        }
    }

    public Tensor Load(string tensorName) => FileFor(tensorName).ReadTensor(tensorName);

    public void Dispose()
    {
        lock (_lock)
        {
            foreach (var f in _open.Values)
            {
                f.Dispose();
            }

            _open.Clear();
        }
    }
}
