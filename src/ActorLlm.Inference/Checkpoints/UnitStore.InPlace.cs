using System.Text.Json.Nodes;

namespace ActorLlm.Inference.Checkpoints;

/// <summary>A store served in place from a Hugging Face directory (see <see cref="OpenInPlace"/>).</summary>
public sealed partial class UnitStore
{
    private readonly InPlaceUnits? _inPlace;

    // In place: each checkpoint file's size and modification time when its units' sizes and sha256 were computed.
    private Dictionary<string, FileStamp> _sourceStamps = new(StringComparer.Ordinal);

    /// <summary>
    /// Serves the Hugging Face directory <paramref name="hfDir"/> as a unit store without writing a copy of it: the
    /// units are the files <see cref="UnitStoreWriter.Convert"/> would write (same headers, same tensor bytes),
    /// composed on request from the checkpoint's shards by positioned reads, and tensors load straight from the
    /// shards. The manifest (every unit's size and sha256, which takes one read of the whole checkpoint to compute)
    /// is remembered at <paramref name="manifestPath"/>, a small JSON file, and reused by later starts; the caller
    /// names that path after the checkpoint's fingerprint, so a changed checkpoint gets a manifest of its own. Symbolic
    /// links (a Hugging Face cache's snapshots point into its blobs) are followed.
    /// </summary>
    public static UnitStore OpenInPlace(string hfDir, string manifestPath, Action<string>? log = null)
    {
        if (IsStore(hfDir))
        {
            throw new ModelFormatException($"'{hfDir}' is a unit store, not a Hugging Face directory; open it as it is");
        }

        var units = InPlaceUnits.Open(HfCheckpoint.Open(hfDir));
        try
        {
            var config = units.Source.Config;
            var stamps = new Dictionary<string, FileStamp>(StringComparer.Ordinal);
            for (int u = 0; u < units.Count; u++)
            {
                foreach (string file in units.SourceFiles(u))
                {
                    stamps[file] = StampOf(file) ?? throw new ModelFormatException($"{file}: vanished while opening the checkpoint");
                }
            }

            var manifest = Remembered(manifestPath, config.Raw, units, log);
            if (manifest is null)
            {
                log?.Invoke($"{hfDir}: served in place; computing the sizes and sha256 of its {units.Count} units once (remembered in {manifestPath})");
                var entries = new List<UnitManifestEntry>();
                for (int u = 0; u < units.Count; u++)
                {
                    var (bytes, sha) = units.Digest(u);
                    string name = Protocol.UnitRange.UnitName(u, config.NumLayers);
                    entries.Add(new UnitManifestEntry(u, name, StoreManifest.FileNameOf(name), bytes, sha, units.Tensors(u)));
                }

                manifest = new StoreManifest
                {
                    Config = config.Raw.DeepClone().AsObject(),
                    Units = entries,
                    DTypes = new SortedSet<SafetensorsDType>(entries.SelectMany(e => e.Tensors.Select(t => t.DType))).ToArray(),
                    TiedHead = config.TieWordEmbeddings || !units.Source.Contains(UnitTensors.LmHead),
                    Files = UnitStoreWriter.SideFiles(hfDir),
                };
                manifest.Validate(hfDir);
                System.IO.Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(manifestPath))!);
                WriteAtomically(manifestPath, manifest.ToJson());
            }
            else
            {
                log?.Invoke($"{hfDir}: served in place, with the manifest remembered in {manifestPath}");
            }

            return new UnitStore(hfDir, manifest, manifest.ParseConfig(manifestPath), units, manifestPath) { _sourceStamps = stamps };
        }
        catch
        {
            units.Dispose();
            throw;
        }
    }

    /// <summary>
    /// The manifest remembered at <paramref name="path"/> when it still describes these units (same config, same
    /// sizes and tensors); null when there is none or it does not (it is then computed again and replaced).
    /// </summary>
    private static StoreManifest? Remembered(string path, JsonObject config, InPlaceUnits units, Action<string>? log)
    {
        if (!File.Exists(path))
        {
            return null;
        }

        try
        {
            var manifest = StoreManifest.Parse(File.ReadAllBytes(path), path);
            bool same = JsonNode.DeepEquals(manifest.Config, config)
                && manifest.Weights == WeightFormat.Source
                && manifest.Units.Count == units.Count
                && manifest.Units.All(u => u.Bytes == units.Length(u.Index)
                    && u.Tensors.Select(t => (t.Name, t.DType, string.Join(",", t.Shape)))
                        .SequenceEqual(units.Tensors(u.Index).Select(t => (t.Name, t.DType, string.Join(",", t.Shape)))));
            if (!same)
            {
                log?.Invoke($"{path}: describes other units than the checkpoint's; computing it again");
            }

            return same ? manifest : null;
        }
        catch (Exception e) when (e is ModelFormatException or IOException)
        {
            log?.Invoke($"{path}: unreadable ({e.Message}); computing it again");
            return null;
        }
    }

    /// <summary>In place: null while every checkpoint file of the unit is as it was when its sha256 was computed.</summary>
    private string? InPlaceProblem(int unit)
    {
        foreach (string file in _inPlace!.SourceFiles(unit))
        {
            var now = StampOf(file);
            if (now != _sourceStamps[file])
            {
                return $"{file}: changed since unit {Unit(unit).Name}'s sha256 was computed (size or modification time); restart the node to serve the new checkpoint";
            }
        }

        return null;
    }

    /// <summary>A file's size and modification time, those of the file a symbolic link points to for a link.</summary>
    private static FileStamp? StampOf(string path) => FileStamp.Of(path);
}
