using System.Text.Json;
using System.Text.Json.Nodes;
using ActorLlm.Inference.Config;
using static TorchSharp.torch;

namespace ActorLlm.Inference.Checkpoints;

/// <summary>
/// A directory holding a model as units: <c>manifest.json</c>, one <c>&lt;unit&gt;.safetensors</c> per unit
/// (<c>begin</c>, <c>layer.N</c>, <c>end</c>) and the copied config and tokenizer files. Opening reads only the
/// manifest; a unit's file is opened when one of its tensors is first loaded, so a store may lack units it does
/// not serve (a partial store on a worker) and gain them later through <see cref="InstallUnit"/>, which accepts
/// only a file matching the manifest's size and sha256. Loads exactly like a Hugging Face directory.
/// A store may also be served in place from a Hugging Face directory (<see cref="OpenInPlace"/>): every unit is then
/// present, composed from the checkpoint's files on request, and nothing is copied.
/// </summary>
public sealed partial class UnitStore : IWeightSource
{
    public const string ManifestFile = "manifest.json";
    public const string ConfigFile = "config.json";

    private readonly Dictionary<string, (int Unit, TensorInfo Info)> _tensors = new(StringComparer.Ordinal);
    private readonly SafetensorsFile?[] _open;
    private readonly Lock _lock = new();

    // Unit files this store hashed (or installed) and found good, by the size and modification time they had then.
    private readonly Dictionary<int, FileStamp> _verified = [];
    private long _bytesReadByClosedFiles;

    private UnitStore(string directory, StoreManifest manifest, ModelConfig config, InPlaceUnits? inPlace = null, string? manifestPath = null)
    {
        Directory = directory;
        Manifest = manifest;
        Config = config;
        _inPlace = inPlace;
        ManifestPath = manifestPath ?? Path.Combine(directory, ManifestFile);
        _open = new SafetensorsFile?[manifest.Units.Count];
        foreach (var u in manifest.Units)
        {
            foreach (var t in u.Tensors)
            {
                _tensors[t.Name] = (u.Index, t);
            }
        }
    }

    /// <summary>Where the store's files are: its own directory, or the Hugging Face directory it is served in place from.</summary>
    public string Directory { get; }

    /// <summary>The manifest's file: in the store, or for a store served in place, the one remembered in the cache.</summary>
    public string ManifestPath { get; }

    /// <summary>Served in place from a Hugging Face directory: every unit present, none of them a file of its own.</summary>
    public bool IsInPlace => _inPlace is not null;

    public ModelConfig Config { get; }

    public StoreManifest Manifest { get; }

    public int UnitCount => Manifest.Units.Count;

    /// <summary>The manifest's weight format (checked against every unit's tensors when the manifest was read).</summary>
    public WeightFormat Weights => Manifest.Weights;

    public IReadOnlyCollection<string> TensorNames => _tensors.Keys;

    public long BytesRead
    {
        get
        {
            lock (_lock)
            {
                return _bytesReadByClosedFiles + _open.Sum(f => f?.BytesRead ?? 0) + (_inPlace?.Source.BytesRead ?? 0);
            }
        }
    }

    /// <summary>Whether <paramref name="directory"/> has a manifest.json (is, or claims to be, a unit store).</summary>
    public static bool IsStore(string directory) => File.Exists(Path.Combine(directory, ManifestFile));

    /// <summary>Opens a store, reading and validating only its manifest.</summary>
    public static UnitStore Open(string directory)
    {
        if (!System.IO.Directory.Exists(directory))
        {
            throw new ModelFormatException($"unit store directory '{directory}' does not exist");
        }

        string path = Path.Combine(directory, ManifestFile);
        if (!File.Exists(path))
        {
            throw new ModelFormatException($"'{directory}' has no {ManifestFile}: not a unit store");
        }

        var manifest = StoreManifest.Parse(File.ReadAllBytes(path), path);
        return new UnitStore(directory, manifest, manifest.ParseConfig(path));
    }

    /// <summary>
    /// Creates a store that holds no units yet, from a peer's manifest, so units can then be installed one by one.
    /// <paramref name="files"/> are contents of copied files the manifest lists (tokenizer, generation config),
    /// each checked against its size and sha256; config.json is written from the manifest. If
    /// <paramref name="directory"/> already holds a store with the same units, that store is opened as it is.
    /// </summary>
    public static UnitStore CreateEmpty(string directory, StoreManifest manifest, IReadOnlyDictionary<string, byte[]>? files = null)
    {
        manifest.Validate("manifest");
        if (IsStore(directory))
        {
            var existing = Open(directory);
            if (SameUnits(existing.Manifest, manifest))
            {
                return existing;
            }

            existing.Dispose();
            throw new ModelFormatException($"'{directory}' already holds a unit store of different units; remove it first");
        }

        if (System.IO.Directory.Exists(directory) && System.IO.Directory.EnumerateFileSystemEntries(directory).Any())
        {
            throw new ModelFormatException($"'{directory}' is not empty and not a unit store; refusing to create a store there");
        }

        files ??= new Dictionary<string, byte[]>();
        foreach (var (name, bytes) in files)
        {
            var entry = manifest.Files.FirstOrDefault(f => f.Name == name)
                ?? throw new ModelFormatException($"file '{name}' is not listed in the manifest");
            string sha = FileDigest.Sha256(bytes);
            if (bytes.Length != entry.Bytes || sha != entry.Sha256)
            {
                throw new ModelFormatException($"file '{name}': {bytes.Length} bytes with sha256 {sha}, but the manifest says {entry.Bytes} bytes with sha256 {entry.Sha256}");
            }
        }

        System.IO.Directory.CreateDirectory(directory);
        foreach (var (name, bytes) in files)
        {
            WriteAtomically(Path.Combine(directory, name), bytes);
        }

        WriteAtomically(Path.Combine(directory, ConfigFile), JsonSerializer.SerializeToUtf8Bytes(manifest.Config, new JsonSerializerOptions { WriteIndented = true }));
        WriteAtomically(Path.Combine(directory, ManifestFile), manifest.ToJson());
        return Open(directory);
    }

    /// <summary>Same model and same unit files: the config objects and every unit's size and sha256 agree.</summary>
    public static bool SameUnits(StoreManifest a, StoreManifest b) =>
        JsonNode.DeepEquals(a.Config, b.Config)
        && a.Units.Count == b.Units.Count
        && a.Units.Zip(b.Units).All(p => p.First.Bytes == p.Second.Bytes && p.First.Sha256 == p.Second.Sha256);

    internal static void WriteAtomically(string path, byte[] bytes)
    {
        string partial = SafetensorsWriter.PartialPath(path);
        try
        {
            File.WriteAllBytes(partial, bytes);
            File.Move(partial, path, overwrite: true);
        }
        catch
        {
            File.Delete(partial);
            throw;
        }
    }

    public UnitManifestEntry Unit(int unit) =>
        unit >= 0 && unit < UnitCount
            ? Manifest.Units[unit]
            : throw new ArgumentOutOfRangeException(nameof(unit), $"unit {unit} is outside [0, {UnitCount})");

    public string UnitPath(int unit) => Path.Combine(Directory, Unit(unit).File);

    /// <summary>Whether the unit's file is present (its content is checked on load for size, by <see cref="VerifyUnit"/> in full).</summary>
    public bool HasUnit(int unit) => _inPlace is not null ? Unit(unit) is not null : File.Exists(UnitPath(unit));

    /// <summary>The units whose files are present, in order.</summary>
    public IReadOnlyList<int> PresentUnits() => Enumerable.Range(0, UnitCount).Where(HasUnit).ToArray();

    private void CloseUnit(int unit)
    {
        if (_open[unit] is { } file)
        {
            _bytesReadByClosedFiles += file.BytesRead;
            file.Dispose();
            _open[unit] = null;
        }
    }

    public bool Contains(string tensorName) => _tensors.ContainsKey(tensorName);

    public TensorInfo Describe(string tensorName) => Find(tensorName).Info;

    /// <summary>The unit holding <paramref name="tensorName"/>.</summary>
    public int UnitOf(string tensorName) => Find(tensorName).Unit;

    private (int Unit, TensorInfo Info) Find(string tensorName) =>
        _tensors.TryGetValue(tensorName, out var found)
            ? found
            : throw new ModelFormatException($"'{Directory}': unit store has no tensor '{tensorName}'");

    public Tensor Load(string tensorName)
    {
        if (_inPlace is not null)
        {
            Find(tensorName);
            return _inPlace.Load(tensorName);
        }

        return FileFor(tensorName).ReadTensor(tensorName);
    }

    /// <summary>
    /// Bytes [<paramref name="offset"/>, + destination's length) of unit <paramref name="unit"/>'s file, by positioned
    /// reads: what a peer pulling the unit is sent. In place, the bytes a converted store's file holds are composed
    /// from the checkpoint. A file that is not the manifest's size, or ends while read, is a <see cref="ModelFormatException"/>.
    /// </summary>
    public void ReadUnit(int unit, long offset, Span<byte> destination)
    {
        var entry = Unit(unit);
        if (offset < 0 || offset + destination.Length > entry.Bytes)
        {
            throw new ArgumentOutOfRangeException(nameof(offset), $"[{offset}, +{destination.Length}) is outside unit {entry.Name}'s {entry.Bytes} bytes");
        }

        if (_inPlace is not null)
        {
            if (InPlaceProblem(unit) is { } changed)
            {
                throw new ModelFormatException(changed);
            }

            _inPlace.Read(unit, offset, destination);
            return;
        }

        if (PositionedRead.Exactly(UnitPath(unit), entry.Bytes, offset, destination) is { } problem)
        {
            throw new ModelFormatException($"unit {entry.Name}: {problem}");
        }
    }

    /// <summary>The open unit file holding <paramref name="tensorName"/>; opens it on first use.</summary>
    public SafetensorsFile FileFor(string tensorName)
    {
        int unit = Find(tensorName).Unit;
        lock (_lock)
        {
            return _open[unit] ??= OpenUnit(unit);
        }
    }

    private SafetensorsFile OpenUnit(int unit)
    {
        var entry = Unit(unit);
        string path = UnitPath(unit);
        if (!File.Exists(path))
        {
            throw new ModelFormatException(
                $"'{Directory}': unit {entry.Name} ({entry.File}) is not in this store: a partial store holds only the units it serves; install the unit first");
        }

        long length = new FileInfo(path).Length;
        if (length != entry.Bytes)
        {
            throw new ModelFormatException($"{path}: {length} bytes, but the manifest says unit {entry.Name} has {entry.Bytes}: incomplete or replaced file");
        }

        var file = SafetensorsFile.Open(path);
        try
        {
            foreach (var t in entry.Tensors)
            {
                if (!file.Entries.TryGetValue(t.Name, out var e) || e.DType != t.DType || !e.Shape.SequenceEqual(t.Shape))
                {
                    throw new ModelFormatException($"{path}: tensor '{t.Name}' is missing or differs from the manifest ({t.DType} [{string.Join(", ", t.Shape)}])");
                }
            }

            return file;
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    public void Dispose()
    {
        lock (_lock)
        {
            for (int u = 0; u < _open.Length; u++)
            {
                CloseUnit(u);
            }

            _inPlace?.Dispose();
        }
    }
}
