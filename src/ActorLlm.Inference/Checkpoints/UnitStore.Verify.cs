namespace ActorLlm.Inference.Checkpoints;

/// <summary>Checking unit files against the manifest, and installing pulled ones (see <see cref="UnitStore"/>).</summary>
public sealed partial class UnitStore
{
    private readonly record struct FileStamp(long Length, DateTime WrittenUtc)
    {
        /// <summary>For a symbolic link, the stamp of the file it points to (a Hugging Face cache's snapshots link to blobs).</summary>
        public static FileStamp? Of(string path)
        {
            var info = new FileInfo(path);
            if (info.LinkTarget is not null)
            {
                info = info.ResolveLinkTarget(returnFinalTarget: true) as FileInfo ?? info;
            }

            return info.Exists ? new FileStamp(info.Length, info.LastWriteTimeUtc) : null;
        }
    }

    /// <summary>Whether the unit's file is present with the manifest's size and sha256 (reads the whole file).</summary>
    public bool VerifyUnit(int unit) => Mismatch(unit, UnitPath(unit)) is null;

    /// <summary>Like <see cref="VerifyUnit"/>, but throws a <see cref="ModelFormatException"/> saying what is wrong.</summary>
    public void CheckUnit(int unit)
    {
        if (Mismatch(unit, UnitPath(unit)) is { } problem)
        {
            throw new ModelFormatException(problem);
        }
    }

    /// <summary>
    /// What is wrong with the unit's file against the manifest (missing, size, sha256), or null when it matches: the
    /// check a stage makes before it loads a unit, so that a file damaged on disk (bit rot, a partial copy, a file
    /// replaced by hand) never serves. Hashing reads the whole file, so the store remembers each file it found good
    /// (or installed) by its size and modification time and does not hash it again while both stay the same: loading
    /// the unit again in this process costs nothing, while any write to the file moves its modification time and is
    /// hashed anew, and a new process (a restarted worker) hashes every unit it loads once.
    /// </summary>
    public string? Verify(int unit)
    {
        if (_inPlace is not null)
        {
            return InPlaceProblem(unit);
        }

        string path = UnitPath(unit);
        var before = FileStamp.Of(path);
        lock (_lock)
        {
            if (before is { } stamp && _verified.TryGetValue(unit, out var known) && known == stamp)
            {
                return null;
            }

            _verified.Remove(unit);
        }

        string? problem = Mismatch(unit, path);
        if (problem is null && before is { } good && FileStamp.Of(path) == good)
        {
            // Unchanged while it was hashed: the digest is the file's as it is now.
            lock (_lock)
            {
                _verified[unit] = good;
            }
        }

        return problem;
    }

    /// <summary>
    /// Deletes the unit's file (one found corrupt by <see cref="Verify"/>), closing it first, so the unit reads as
    /// missing until it is installed again (<see cref="InstallUnit"/>). Nothing happens if it is absent already.
    /// </summary>
    public void RemoveUnit(int unit)
    {
        if (_inPlace is not null)
        {
            // The checkpoint is not this store's to delete; a unit whose source changed fails its load instead.
            return;
        }

        string path = UnitPath(unit);
        lock (_lock)
        {
            CloseUnit(unit);
            _verified.Remove(unit);
            File.Delete(path);
        }
    }

    private string? Mismatch(int unit, string path)
    {
        if (_inPlace is not null)
        {
            return InPlaceProblem(unit);
        }

        var entry = Unit(unit);
        if (!File.Exists(path))
        {
            return $"{path}: unit {entry.Name} is not in this store";
        }

        long length = new FileInfo(path).Length;
        if (length != entry.Bytes)
        {
            return $"{path}: {length} bytes, but the manifest says unit {entry.Name} has {entry.Bytes}: incomplete or wrong file";
        }

        var (_, sha) = FileDigest.Of(path);
        return sha == entry.Sha256
            ? null
            : $"{path}: sha256 {sha} does not match the manifest's {entry.Sha256} for unit {entry.Name}: corrupt or wrong file";
    }

    /// <summary>
    /// Installs unit <paramref name="unit"/> from <paramref name="tempFile"/> (e.g. pulled from a peer). The file is
    /// moved to a hidden name in the store, checked against the manifest's size and sha256, and only then renamed
    /// into place, so readers never see a partial or wrong unit. The temporary file is consumed either way: on a
    /// mismatch it is deleted and a <see cref="ModelFormatException"/> says what differed.
    /// </summary>
    public void InstallUnit(int unit, string tempFile)
    {
        if (_inPlace is not null)
        {
            throw new InvalidOperationException($"'{Directory}' is served in place: it holds every unit, and takes none");
        }

        string target = UnitPath(unit);
        if (!File.Exists(tempFile))
        {
            throw new ModelFormatException($"{tempFile}: file not found (installing unit {Unit(unit).Name})");
        }

        if (Path.GetFullPath(tempFile) == Path.GetFullPath(target))
        {
            CheckUnit(unit);
            return;
        }

        string staging = SafetensorsWriter.PartialPath(target);
        try
        {
            // A rename when on the same file system; a copy otherwise, which is why the check comes after the move.
            File.Move(tempFile, staging);
            if (Mismatch(unit, staging) is { } problem)
            {
                throw new ModelFormatException($"not installed: {problem}");
            }

            lock (_lock)
            {
                CloseUnit(unit);
                File.Move(staging, target, overwrite: true);

                // Checked just now: a later Verify of the same file need not hash it again.
                if (FileStamp.Of(target) is { } stamp)
                {
                    _verified[unit] = stamp;
                }
            }
        }
        finally
        {
            File.Delete(staging);
        }
    }
}
