namespace ActorLlm.Inference.Generation;

/// <summary>
/// Finds stop strings in streamed text. Text that could still turn out to be the start of a stop string is
/// held back, so a client never receives a prefix of a stop string that is later cut off.
/// </summary>
public sealed class StopStringMatcher
{
    private readonly string[] _stops;
    private string _pending = "";

    public StopStringMatcher(IEnumerable<string> stops)
    {
        _stops = stops.Where(s => s.Length > 0).Distinct().ToArray();
    }

    /// <summary>True once a stop string has been seen; everything after it is dropped.</summary>
    public bool Stopped { get; private set; }

    /// <summary>Adds newly decoded text; returns the part that is safe to emit now.</summary>
    public string Push(string text)
    {
        if (Stopped)
        {
            return "";
        }

        _pending += text;
        int cut = -1;
        foreach (var stop in _stops)
        {
            int at = _pending.IndexOf(stop, StringComparison.Ordinal);
            if (at >= 0 && (cut < 0 || at < cut))
            {
                cut = at;
            }
        }

        if (cut >= 0)
        {
            Stopped = true;
            string before = _pending[..cut];
            _pending = "";
            return before;
        }

        // Hold back the longest tail of the pending text that is a proper prefix of some stop string.
        int hold = 0;
        foreach (var stop in _stops)
        {
            for (int n = Math.Min(stop.Length - 1, _pending.Length); n > hold; n--)
            {
                if (_pending.AsSpan(_pending.Length - n).SequenceEqual(stop.AsSpan(0, n)))
                {
                    hold = n;
                    break;
                }
            }
        }

        string emit = _pending[..^hold];
        _pending = _pending[^hold..];
        return emit;
    }

    /// <summary>At the end of generation: whatever was held back (it did not become a stop string).</summary>
    public string Flush()
    {
        string rest = Stopped ? "" : _pending;
        _pending = "";
        return rest;
    }
}
