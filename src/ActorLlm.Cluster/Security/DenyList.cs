using System.Collections.Immutable;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace ActorLlm.Cluster.Security;

/// <summary>
/// One revocation: every certificate of <paramref name="Name"/> when <paramref name="Serial"/> is null, else the one
/// certificate with that serial (hex, upper case). <paramref name="Signature"/>: the pool CA's signature of it
/// (<see cref="SignedRevocation"/>), made by `pool revoke`, so it can be gossiped to nodes that check it.
/// </summary>
public sealed record Revocation(string Name, string? Serial, DateTimeOffset Time, string? Signature = null);

/// <summary>
/// The pool's deny list (revoked.json): revoked node names and certificate serials. Thread-safe: readers see an
/// immutable snapshot, writers merge under a lock. It only grows (a revoked name stays revoked; invite the machine
/// again under a new name). <see cref="Changed"/> is raised, outside the lock, with the entries that were new, after
/// every merge that added any: the TLS validator refuses new associations at once, and a listener can down the
/// revoked nodes already associated.
/// </summary>
public sealed class DenyList
{
    private readonly Lock _lock = new();
    private volatile Snapshot _snapshot = Snapshot.Empty;

    public event Action<IReadOnlyList<Revocation>>? Changed;

    /// <summary>Every entry, oldest first.</summary>
    public IReadOnlyList<Revocation> Entries => _snapshot.Entries;

    public int Count => _snapshot.Entries.Count;

    public bool IsRevoked(PoolIdentity identity) => Find(identity) is not null;

    public bool IsRevoked(string name, string serial) => Find(name, serial) is not null;

    /// <summary>The entry that revokes <paramref name="identity"/> (its name, or its certificate's serial), if any.</summary>
    public Revocation? Find(PoolIdentity identity) => Find(identity.Name, identity.Serial);

    public Revocation? Find(string name, string serial)
    {
        var s = _snapshot;
        return s.Names.TryGetValue(name, out var byName) ? byName
            : s.Serials.TryGetValue(serial.ToUpperInvariant(), out var bySerial) ? bySerial
            : null;
    }

    /// <summary>Adds the entries not already present; returns those that were new (and raises <see cref="Changed"/> if any).</summary>
    public IReadOnlyList<Revocation> Merge(IEnumerable<Revocation> entries)
    {
        List<Revocation> added = [];
        lock (_lock)
        {
            var s = _snapshot;
            var names = s.Names.ToBuilder();
            var serials = s.Serials.ToBuilder();
            foreach (var entry in entries)
            {
                var e = entry with { Serial = entry.Serial?.ToUpperInvariant() };
                if (e.Serial is null ? names.ContainsKey(e.Name) : serials.ContainsKey(e.Serial))
                {
                    continue;
                }

                if (e.Serial is null)
                {
                    names[e.Name] = e;
                }
                else
                {
                    serials[e.Serial] = e;
                }

                added.Add(e);
            }

            if (added.Count > 0)
            {
                _snapshot = new Snapshot([.. s.Entries, .. added], names.ToImmutable(), serials.ToImmutable());
            }
        }

        if (added.Count > 0)
        {
            Changed?.Invoke(added);
        }

        return added;
    }

    /// <summary>Reads revoked.json (a missing file is an empty list); a malformed file is an error naming it.</summary>
    public static IReadOnlyList<Revocation> Read(string path)
    {
        if (!File.Exists(path))
        {
            return [];
        }

        try
        {
            var file = JsonSerializer.Deserialize(File.ReadAllText(path), PoolJson.Default.RevokedFile) ?? throw new JsonException("null");
            foreach (var e in file.Revoked.Where(e => !PoolIdentity.IsValidName(e.Name)))
            {
                throw new JsonException($"bad node name '{e.Name}'");
            }

            return file.Revoked;
        }
        catch (JsonException e)
        {
            throw new IOException($"{path} is not a deny list: {e.Message}", e);
        }
    }

    /// <summary>A list holding revoked.json's entries.</summary>
    public static DenyList Load(string path)
    {
        var list = new DenyList();
        list.Merge(Read(path));
        return list;
    }

    /// <summary>Writes every entry to <paramref name="path"/> atomically (a reader sees the old file or the new, never half).</summary>
    public void Save(string path) =>
        SecureFiles.WriteAtomic(path, JsonSerializer.Serialize(new RevokedFile([.. Entries]), PoolJson.Default.RevokedFile), secret: false);

    /// <summary>
    /// Merges revoked.json into this list whenever the file changes (written by `actorllm pool revoke`, which
    /// replaces it atomically), and once now. A file that cannot be read is reported to <paramref name="error"/> and
    /// the list keeps what it had. Dispose to stop watching.
    /// </summary>
    public IDisposable Watch(string path, Action<string>? error = null)
    {
        string full = Path.GetFullPath(path);
        var watcher = new FileSystemWatcher(Path.GetDirectoryName(full)!, Path.GetFileName(full))
        {
            NotifyFilter = NotifyFilters.FileName | NotifyFilters.LastWrite | NotifyFilters.Size | NotifyFilters.CreationTime,
        };
        void Reload()
        {
            try
            {
                Merge(Read(full));
            }
            catch (IOException e)
            {
                error?.Invoke(e.Message);
            }
        }

        watcher.Changed += (_, _) => Reload();
        watcher.Created += (_, _) => Reload();
        watcher.Renamed += (_, _) => Reload();
        watcher.EnableRaisingEvents = true;
        Reload();
        return watcher;
    }

    private sealed record Snapshot(ImmutableList<Revocation> Entries, ImmutableDictionary<string, Revocation> Names, ImmutableDictionary<string, Revocation> Serials)
    {
        public static readonly Snapshot Empty = new([], ImmutableDictionary<string, Revocation>.Empty, ImmutableDictionary<string, Revocation>.Empty);
    }
}

/// <summary>revoked.json.</summary>
public sealed record RevokedFile([property: JsonPropertyName("revoked")] IReadOnlyList<Revocation> Revoked);
