using System.Diagnostics;
using ActorLlm.Cluster.Hosting;
using ActorLlm.Inference;
using ActorLlm.Inference.Checkpoints;
using ActorLlm.Protocol.Messages;
using ActorLlm.Protocol.Serialization;
using Akka.Actor;
using Akka.Event;
using Microsoft.Win32.SafeHandles;

namespace ActorLlm.Cluster.Weights.Internal;

/// <summary>
/// See <see cref="UnitFetcher"/>. One attempt at a time: an attempt owns one holder, one temporary file and the
/// chunk requests in flight; giving up on it drops all three before the next attempt starts, so replies and timers
/// of an abandoned attempt are recognised (by sender and attempt number) and ignored.
/// </summary>
internal sealed class UnitFetcherActor : ReceiveActor, IWithTimers
{
    private readonly UnitStore _store;
    private readonly int _unit;
    private readonly IActorRef[] _holders;
    private readonly IActorRef _replyTo;
    private readonly FetchSettings _settings;
    private readonly int _maxAttempts;
    private readonly List<string> _reasons = [];
    private readonly Dictionary<long, int> _inFlight = [];
    private readonly Stopwatch _clock = new();
    private readonly ProgressThrottle _progress;
    private TimeSpan _attemptStarted;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private UnitManifestEntry _entry = null!;
    private int _chunkBytes;

    // The current attempt.
    private int _attempt;
    private IActorRef? _holder;
    private string? _temp;
    private SafeFileHandle? _file;
    private long _nextOffset;
    private long _received;
    private bool _installing;
    private bool _finished;

    public UnitFetcherActor(UnitStore store, int unit, IActorRef[] holders, IActorRef replyTo, FetchSettings settings, int maxAttempts)
    {
        _store = store;
        _unit = unit;
        _holders = holders;
        _replyTo = replyTo;
        _settings = settings;
        _maxAttempts = maxAttempts;
        _progress = new ProgressThrottle(settings.ProgressInterval);
        Receive<WeightMessages.UnitChunk>(OnChunk);
        Receive<WeightMessages.UnitUnavailable>(u =>
        {
            if (IsCurrent(Sender))
            {
                GiveUpOnHolder($"refused: {u.Reason}");
            }
        });
        Receive<ChunkTimedOut>(t =>
        {
            if (t.Attempt == _attempt && !_installing && _inFlight.ContainsKey(t.Offset))
            {
                GiveUpOnHolder($"no reply for the chunk at offset {t.Offset} within {_settings.ChunkTimeout.TotalSeconds:0.###} s");
            }
        });
        Receive<Terminated>(t =>
        {
            if (IsCurrent(t.ActorRef))
            {
                GiveUpOnHolder("stopped or became unreachable");
            }
        });
        Receive<Installed>(OnInstalled);
    }

    public ITimerScheduler Timers { get; set; } = null!;

    protected override void PreStart()
    {
        _clock.Start();
        if (_unit < 0 || _unit >= _store.UnitCount)
        {
            Finish(new UnitFetcher.Failed(_unit, $"unit {_unit} is outside the model's [0, {_store.UnitCount})"));
            return;
        }

        _entry = _store.Unit(_unit);
        var config = Context.System.Settings.Config;
        var limits = WireLimits.From(config.GetConfig("actorllm.wire"));
        _chunkBytes = Math.Min(_settings.ChunkBytes, limits.MaxChunkBytes);
        if (_store.HasUnit(_unit))
        {
            Finish(new UnitFetcher.Fetched(_unit, _entry.Bytes, TimeSpan.Zero, "local store"));
            return;
        }

        if (_holders.Length == 0)
        {
            Finish(new UnitFetcher.Failed(_unit, $"unit {_entry.Name}: no node holds it"));
            return;
        }

        StartAttempt();
    }

    protected override void PostStop()
    {
        // Stopped from outside mid-attempt: the temporary file goes with the fetcher. (An install in progress owns
        // its file and removes it itself if it fails.)
        if (!_installing)
        {
            DropTempFile();
        }
    }

    private bool IsCurrent(IActorRef sender) => !_finished && !_installing && _holder is not null && sender.Equals(_holder);

    private void StartAttempt()
    {
        if (_attempt >= _maxAttempts)
        {
            Finish(new UnitFetcher.Failed(_unit, $"unit {_entry.Name}: {_attempt} attempt(s), none delivered it: {string.Join("; ", _reasons)}"));
            return;
        }

        _holder = _holders[_attempt % _holders.Length];
        _attempt++;
        _nextOffset = 0;
        _received = 0;
        _attemptStarted = _clock.Elapsed;
        _inFlight.Clear();
        _temp = SafetensorsWriter.PartialPath(_store.UnitPath(_unit));
        try
        {
            // Reserved up front, so a disk too small for the unit fails here rather than mid-transfer.
            _file = File.OpenHandle(_temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, FileOptions.None, preallocationSize: _entry.Bytes);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Not the holder's fault, and no other holder would fare better.
            Finish(new UnitFetcher.Failed(_unit, $"unit {_entry.Name}: cannot write into the store at {_store.Directory}: {e.Message}"));
            return;
        }

        Context.Watch(_holder);
        _log.Debug("fetching unit {0} ({1} bytes) from {2}, attempt {3}", _entry.Name, _entry.Bytes, _holder.Path, _attempt);
        if (_entry.Bytes == 0)
        {
            Install();
            return;
        }

        for (int i = 0; i < _settings.Window; i++)
        {
            RequestNext();
        }
    }

    private void RequestNext()
    {
        if (_nextOffset >= _entry.Bytes)
        {
            return;
        }

        int length = (int)Math.Min(_chunkBytes, _entry.Bytes - _nextOffset);
        _inFlight[_nextOffset] = length;
        _holder!.Tell(new WeightMessages.FetchUnitChunk(_unit, _nextOffset, length), Self);
        Timers.StartSingleTimer(_nextOffset, new ChunkTimedOut(_attempt, _nextOffset), _settings.ChunkTimeout);
        _nextOffset += length;
    }

    private void OnChunk(WeightMessages.UnitChunk chunk)
    {
        // A chunk at an offset not in flight is a late reply to an abandoned attempt on the same holder.
        if (!IsCurrent(Sender) || chunk.Unit != _unit || !_inFlight.TryGetValue(chunk.Offset, out int expected))
        {
            return;
        }

        if (chunk.TotalBytes != _entry.Bytes)
        {
            GiveUpOnHolder($"its unit {_entry.Name} has {chunk.TotalBytes} bytes, the manifest says {_entry.Bytes}: a different model?");
            return;
        }

        if (chunk.Data.Length != expected)
        {
            GiveUpOnHolder($"sent {chunk.Data.Length} bytes for the chunk at offset {chunk.Offset}, asked for {expected}");
            return;
        }

        try
        {
            RandomAccess.Write(_file!, chunk.Data, chunk.Offset);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            string temp = _temp!;
            DropTempFile();
            Finish(new UnitFetcher.Failed(_unit, $"unit {_entry.Name}: writing {temp}: {e.Message}"));
            return;
        }

        _inFlight.Remove(chunk.Offset);
        Timers.Cancel(chunk.Offset);
        _received += expected;
        if (_progress.Due(_clock.Elapsed) && _received < _entry.Bytes)
        {
            var progress = new TransferProgress(_received, _entry.Bytes, _clock.Elapsed - _attemptStarted);
            _log.Info("unit {0}: {1} from {2}", _entry.Name, progress.Describe(), _holder!.Path.Address);
        }

        if (_received == _entry.Bytes)
        {
            Install();
        }
        else
        {
            RequestNext();
        }
    }

    /// <summary>
    /// Hashing a unit of gigabytes takes seconds, so it runs off the actor's thread; the actor keeps its
    /// mailbox moving (a stop, a late chunk) meanwhile and learns the outcome from <see cref="Installed"/>.
    /// </summary>
    private void Install()
    {
        Timers.CancelAll();
        _file?.Dispose();
        _file = null;
        _installing = true;
        var store = _store;
        int unit = _unit;
        string temp = _temp!;
        Task.Run(() =>
        {
            try
            {
                store.InstallUnit(unit, temp);
                return new Installed(null);
            }
            catch (Exception e)
            {
                return new Installed(e);
            }
        }).PipeTo(Self);
    }

    private void OnInstalled(Installed result)
    {
        _installing = false;
        if (result.Error is null)
        {
            _temp = null;
            Context.Unwatch(_holder);
            _log.Info("fetched unit {0} ({1} bytes) from {2} in {3:0.###} s", _entry.Name, _entry.Bytes, _holder!.Path, _clock.Elapsed.TotalSeconds);
            Finish(new UnitFetcher.Fetched(_unit, _entry.Bytes, _clock.Elapsed, _holder.Path.ToString()));
            return;
        }

        // InstallUnit deletes the file it was given once it has taken it; one it never took is deleted here.
        DropTempFile();
        if (result.Error is ModelFormatException)
        {
            GiveUpOnHolder(result.Error.Message);
        }
        else
        {
            Finish(new UnitFetcher.Failed(_unit, $"unit {_entry.Name}: installing into {_store.Directory}: {result.Error.Message}"));
        }
    }

    private void GiveUpOnHolder(string reason)
    {
        var holder = _holder!;
        _reasons.Add($"{holder.Path}: {reason}");
        _log.Warning("unit {0}: giving up on {1}: {2}", _entry.Name, holder.Path, reason);
        Timers.CancelAll();
        DropTempFile();
        _inFlight.Clear();
        _holder = null;

        // The next attempt may be on the same holder (round again); its watch is renewed there.
        Context.Unwatch(holder);
        StartAttempt();
    }

    private void DropTempFile()
    {
        _file?.Dispose();
        _file = null;
        if (_temp is not null)
        {
            try
            {
                File.Delete(_temp);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                _log.Warning("could not delete {0}: {1}", _temp, e.Message);
            }

            _temp = null;
        }
    }

    private void Finish(object reply)
    {
        _finished = true;
        _replyTo.Tell(reply);
        Context.Stop(Self);
    }

    /// <summary>The chunk at <paramref name="Offset"/> of attempt <paramref name="Attempt"/> has not come back in time.</summary>
    private sealed record ChunkTimedOut(int Attempt, long Offset) : INoSerializationVerificationNeeded;

    /// <summary>What <see cref="UnitStore.InstallUnit"/> made of the current attempt's file: null error when installed.</summary>
    private sealed record Installed(Exception? Error) : INoSerializationVerificationNeeded;
}
