namespace ActorLlm.Cluster.Hosting;

/// <summary>
/// At most one line per key per <see cref="Window"/>: the first passes, the ones after it within the window are
/// counted, and the next that passes says how many were held back. What keeps a flood of hostile bytes (one error per
/// connection) from becoming megabytes of log: the key is a kind of abuse and the peer it came from. Bounded: at most
/// <see cref="MaxKeys"/> keys are remembered (expired ones are dropped first; when all are live, every new key
/// passes and is not remembered, so memory stays bounded under a spray of peers).
/// </summary>
public sealed class LogRateLimiter(TimeSpan window, int maxKeys = 4096)
{
    private readonly Dictionary<string, Entry> _keys = new(StringComparer.Ordinal);

    public TimeSpan Window { get; } = window;

    public int MaxKeys { get; } = maxKeys;

    /// <summary>
    /// Whether a line of <paramref name="key"/> at <paramref name="now"/> is written; when it is,
    /// <paramref name="held"/> is how many of the same key were held back since the last one written.
    /// </summary>
    public bool Admit(string key, DateTime now, out int held)
    {
        held = 0;
        if (Window <= TimeSpan.Zero)
        {
            return true;
        }

        if (_keys.TryGetValue(key, out var entry))
        {
            if (now - entry.Written < Window)
            {
                _keys[key] = entry with { Held = entry.Held + 1 };
                return false;
            }

            held = entry.Held;
            _keys[key] = new Entry(now, 0);
            return true;
        }

        if (_keys.Count >= MaxKeys)
        {
            foreach (var expired in _keys.Where(k => now - k.Value.Written >= Window).Select(k => k.Key).ToList())
            {
                _keys.Remove(expired);
            }
        }

        if (_keys.Count < MaxKeys)
        {
            _keys[key] = new Entry(now, 0);
        }

        return true;
    }

    /// <summary>Keys remembered now (for tests of the bound).</summary>
    public int Count => _keys.Count;

    private readonly record struct Entry(DateTime Written, int Held);
}
