using System.Diagnostics;
using System.Text.Json.Nodes;
using ActorLlm.Inference.Config;
using ActorLlm.Protocol;

namespace ActorLlm.Inference.Checkpoints;

public sealed record ConvertOptions
{
    /// <summary>Write into a directory that is not empty and not a store of the same model (files of an old store are replaced).</summary>
    public bool Overwrite { get; init; }

    /// <summary>
    /// How to store the weights: as the checkpoint holds them (default: bytes copied, no decode), or with the layers'
    /// projection weights quantized to int8 (<see cref="Int8Quantization"/>).
    /// </summary>
    public WeightFormat Weights { get; init; } = WeightFormat.Source;

    /// <summary>Called after each unit file is written.</summary>
    public Action<ConvertProgress>? Progress { get; init; }
}

/// <summary>Progress of a conversion: unit <see cref="Unit"/> was just written.</summary>
public sealed record ConvertProgress(int Unit, string UnitName, int UnitsDone, int UnitCount, long BytesWritten, long TotalTensorBytes);

/// <summary>
/// What a conversion wrote: the manifest, total bytes of the unit files, how long it took, the checkpoint's tensors
/// no unit uses (not copied), and the config/tokenizer files copied.
/// </summary>
public sealed record ConvertResult(string Directory, StoreManifest Manifest, long Bytes, TimeSpan Elapsed, IReadOnlyList<string> SkippedTensors, IReadOnlyList<string> CopiedFiles)
{
    public int Units => Manifest.Units.Count;
}

/// <summary>Converts a Hugging Face directory (single file or sharded) into a <see cref="UnitStore"/>.</summary>
public static class UnitStoreWriter
{
    /// <summary>One unit file: its tensors in file order, as (name stored in the unit, name in the checkpoint).</summary>
    internal sealed record UnitPlan(int Unit, string Name, (string Stored, string From)[] Tensors);

    /// <summary>
    /// Writes one safetensors file per unit by copying exactly that unit's tensors' bytes (no decode, names kept).
    /// For a model whose head is the embedding the end unit gets the embedding's bytes as <c>lm_head.weight</c>,
    /// so a stage serving only the end needs no other unit. Every tensor is checked for presence and shape
    /// before anything is written; tensors no unit uses are skipped and reported. Refuses a non-empty directory
    /// that is not a store of the same model unless <see cref="ConvertOptions.Overwrite"/> is set.
    /// </summary>
    public static ConvertResult Convert(string hfDir, string storeDir, ConvertOptions? options = null)
    {
        options ??= new ConvertOptions();
        var clock = Stopwatch.StartNew();
        if (Directory.Exists(hfDir) && UnitStore.IsStore(hfDir))
        {
            throw new ModelFormatException($"'{hfDir}' is already a unit store; convert reads Hugging Face directories");
        }

        if (Path.GetFullPath(hfDir).TrimEnd('/') == Path.GetFullPath(storeDir).TrimEnd('/'))
        {
            throw new InvalidRequestException($"the store must go to a directory other than the checkpoint's ('{hfDir}')");
        }

        using var source = HfCheckpoint.Open(hfDir);
        var config = source.Config;
        var plan = Plan(source);
        var used = plan.SelectMany(u => u.Tensors.Select(t => t.From)).ToHashSet(StringComparer.Ordinal);
        var skipped = source.TensorNames.Where(n => !used.Contains(n)).Order(StringComparer.Ordinal).ToArray();
        var quantized = options.Weights == WeightFormat.Int8AbsmaxPerChannel
            ? Enumerable.Range(0, config.UnitCount).SelectMany(u => UnitTensors.QuantizedWeights(config, u)).ToHashSet(StringComparer.Ordinal)
            : [];
        long totalTensorBytes = plan.Sum(u => u.Tensors.Sum(t => quantized.Contains(t.Stored)
            ? source.Entry(t.From).ElementCount + (source.Entry(t.From).Shape[0] * sizeof(float))
            : source.Entry(t.From).Length));

        PrepareDirectory(storeDir, config, options.Overwrite);
        var units = new List<UnitManifestEntry>();
        var dtypes = new SortedSet<SafetensorsDType>();
        long written = 0, tensorBytes = 0;
        foreach (var u in plan)
        {
            // Quantized tensors live until their unit's file is written: one layer's int8 weights at a time.
            var held = new List<IDisposable>();
            SafetensorsWriteResult result;
            PendingTensor[] pending;
            try
            {
                pending = u.Tensors.SelectMany(t => quantized.Contains(t.Stored)
                        ? Quantized(source, t.From, t.Stored, held)
                        : [PendingTensor.FromFile(source.FileFor(t.From), source.Entry(t.From), t.Stored)])
                    .ToArray();
                var metadata = UnitMetadata(u.Name, quantized.Count > 0 ? options.Weights : WeightFormat.Source);

                result = SafetensorsWriter.WriteFile(Path.Combine(storeDir, StoreManifest.FileNameOf(u.Name)), pending, metadata);
            }
            finally
            {
                held.ForEach(h => h.Dispose());
            }

            string file = StoreManifest.FileNameOf(u.Name);
            units.Add(new UnitManifestEntry(u.Unit, u.Name, file, result.Bytes, result.Sha256,
                pending.Select(p => new TensorInfo(p.Name, p.DType, p.Shape)).ToArray()));
            dtypes.UnionWith(pending.Select(p => p.DType));
            written += result.Bytes;
            tensorBytes += pending.Sum(p => p.Length);
            options.Progress?.Invoke(new ConvertProgress(u.Unit, u.Name, units.Count, plan.Count, tensorBytes, totalTensorBytes));
        }

        var (files, copied) = CopyFiles(hfDir, storeDir);
        var manifest = new StoreManifest
        {
            Config = config.Raw.DeepClone().AsObject(),
            Units = units,
            DTypes = dtypes.ToArray(),
            TiedHead = config.TieWordEmbeddings || !source.Contains(UnitTensors.LmHead),
            Files = files,
            Weights = options.Weights,
        };

        // Last, and atomically: a directory without a manifest is never mistaken for a complete store.
        UnitStore.WriteAtomically(Path.Combine(storeDir, UnitStore.ManifestFile), manifest.ToJson());
        return new ConvertResult(storeDir, manifest, written, clock.Elapsed, skipped, copied);
    }

    /// <summary>
    /// <paramref name="from"/> quantized to int8 (stored as <paramref name="stored"/>) and its f32 scale; the tensors
    /// are added to <paramref name="held"/>, which the caller disposes once the unit's file is written.
    /// </summary>
    private static PendingTensor[] Quantized(HfCheckpoint source, string from, string stored, List<IDisposable> held)
    {
        using var weight = source.Load(from);
        var (data, scale) = Int8Quantization.Quantize(weight, from);
        held.Add(data);
        held.Add(scale);
        return [PendingTensor.FromTensor(stored, data), PendingTensor.FromTensor(Int8Quantization.ScaleName(stored), scale)];
    }

    /// <summary>
    /// The <c>__metadata__</c> of a unit file's header. <see cref="InPlaceUnits"/> composes the same header, so a unit
    /// served in place has the bytes of a converted one.
    /// </summary>
    internal static Dictionary<string, string> UnitMetadata(string unitName, WeightFormat weights)
    {
        var metadata = new Dictionary<string, string> { ["format"] = "pt", ["actorllm.unit"] = unitName };
        if (weights != WeightFormat.Source)
        {
            metadata["actorllm.weights"] = weights.Name();
        }

        return metadata;
    }

    /// <summary>Each unit's tensors (stored name, checkpoint name), checked for presence and shape.</summary>
    internal static List<UnitPlan> Plan(HfCheckpoint source)
    {
        var config = source.Config;
        var plan = new List<UnitPlan>();
        for (int unit = 0; unit < config.UnitCount; unit++)
        {
            string unitName = UnitRange.UnitName(unit, config.NumLayers);
            var tensors = new List<(string Stored, string From)>();
            foreach (string name in UnitTensors.Required(config, unit, source.Contains))
            {
                // The head of a tied model is the embedding matrix; the end unit stores it under the head's name.
                string stored = unit == config.NumLayers + 1 && name == UnitTensors.Embedding ? UnitTensors.LmHead : name;
                if (!source.Contains(name))
                {
                    throw new ModelFormatException($"'{source.Directory}': missing tensor '{name}' of unit {unitName}");
                }

                var info = source.Describe(name);
                if (info.DType is not (SafetensorsDType.F32 or SafetensorsDType.F16 or SafetensorsDType.BF16 or SafetensorsDType.F64))
                {
                    throw new ModelFormatException($"'{source.Directory}': tensor '{name}' is {info.DType}: convert reads floating-point checkpoints (F32, F16, BF16)");
                }

                long[] expected = UnitTensors.ExpectedShape(config, stored)!;
                if (!info.Shape.SequenceEqual(expected))
                {
                    throw new ModelFormatException(
                        $"'{source.Directory}': tensor '{name}' has shape [{string.Join(", ", info.Shape)}], expected [{string.Join(", ", expected)}] from config.json");
                }

                tensors.Add((stored, name));
            }

            plan.Add(new UnitPlan(unit, unitName, tensors.ToArray()));
        }

        return plan;
    }

    private static void PrepareDirectory(string storeDir, ModelConfig config, bool overwrite)
    {
        if (!Directory.Exists(storeDir))
        {
            Directory.CreateDirectory(storeDir);
            return;
        }

        if (!Directory.EnumerateFileSystemEntries(storeDir).Any())
        {
            return;
        }

        string manifestPath = Path.Combine(storeDir, UnitStore.ManifestFile);
        StoreManifest? old = null;
        if (File.Exists(manifestPath))
        {
            try
            {
                old = StoreManifest.Parse(File.ReadAllBytes(manifestPath), manifestPath);
            }
            catch (ModelFormatException) when (overwrite)
            {
                // Replaced below; an unreadable manifest only matters when it would have been kept.
            }
        }

        bool sameModel = old is not null && JsonNode.DeepEquals(old.Config, config.Raw);
        if (!sameModel && !overwrite)
        {
            throw new ModelFormatException(old is null
                ? $"'{storeDir}' is not empty and not a unit store; refusing to write there (ask to overwrite to convert into it anyway)"
                : $"'{storeDir}' holds a unit store of a different model; refusing to replace it (ask to overwrite)");
        }

        // The manifest goes first, so an interrupted conversion leaves no store claiming units it lacks.
        File.Delete(manifestPath);
        var keep = Enumerable.Range(0, config.UnitCount).Select(u => StoreManifest.FileNameOf(UnitRange.UnitName(u, config.NumLayers))).ToHashSet();
        foreach (var stale in old?.Units.Where(u => !keep.Contains(u.File)) ?? [])
        {
            File.Delete(Path.Combine(storeDir, stale.File));
        }
    }

    /// <summary>The manifest's entries for the side files <paramref name="hfDir"/> holds (config.json is not listed).</summary>
    internal static List<StoreFileEntry> SideFiles(string hfDir)
    {
        var files = new List<StoreFileEntry>();
        foreach (string name in StoreManifest.CopiedFileNames)
        {
            string path = Path.Combine(hfDir, name);
            if (File.Exists(path))
            {
                var (bytes, sha) = FileDigest.Of(path);
                files.Add(new StoreFileEntry(name, bytes, sha));
            }
        }

        return files;
    }

    private static (List<StoreFileEntry> Files, List<string> Copied) CopyFiles(string hfDir, string storeDir)
    {
        var files = new List<StoreFileEntry>();
        var copied = new List<string>();
        foreach (string name in StoreManifest.CopiedFileNames.Prepend(UnitStore.ConfigFile))
        {
            string from = Path.Combine(hfDir, name);
            if (!File.Exists(from))
            {
                continue;
            }

            byte[] bytes = File.ReadAllBytes(from);
            UnitStore.WriteAtomically(Path.Combine(storeDir, name), bytes);
            copied.Add(name);
            if (name != UnitStore.ConfigFile)
            {
                files.Add(new StoreFileEntry(name, bytes.Length, FileDigest.Sha256(bytes)));
            }
        }

        return (files, copied);
    }
}
