using ActorLlm.Inference.Checkpoints;
using ActorLlm.Protocol.Messages;
using ActorLlm.Protocol.Serialization;
using Akka.Actor;
using Akka.Event;

namespace ActorLlm.Cluster.Weights.Internal;

/// <summary>
/// See <see cref="UnitServer"/>. Reads are positioned reads on a handle opened per request: nothing stays open
/// between requests, so a unit installed or replaced meanwhile is simply read as it now is, and a chunk of a
/// multi-gigabyte unit costs one read of at most the chunk's size.
/// </summary>
internal sealed class UnitServerActor : ReceiveActor
{
    private readonly WireLimits _limits;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private UnitStore? _store;

    /// <summary>Built on the first request and kept: a store's manifest and copied files never change.</summary>
    private WeightMessages.ManifestReply? _manifestReply;

    public UnitServerActor(UnitStore? store, WireLimits limits)
    {
        _store = store;
        _limits = limits;
        Receive<WeightMessages.FetchManifest>(_ => Sender.Tell(Answer(UnitServer.NoUnit, Manifest)));
        Receive<WeightMessages.FetchUnitChunk>(r => Sender.Tell(Answer(r.Unit, () => Chunk(r))));
        Receive<UnitServer.Serve>(s =>
        {
            _store = s.Store;
            _manifestReply = null;
            _log.Info("serving unit store {0} ({1} of {2} units present)", s.Store.Directory, s.Store.PresentUnits().Count, s.Store.UnitCount);
        });
    }

    /// <summary>
    /// Whatever goes wrong becomes a refusal: a requester learns at once, and the actor is never restarted (which
    /// would forget a store given by <see cref="UnitServer.Serve"/>).
    /// </summary>
    private object Answer(int unit, Func<object> answer)
    {
        try
        {
            return answer();
        }
        catch (Exception e)
        {
            _log.Error(e, "answering a request for unit {0}", unit);
            return new WeightMessages.UnitUnavailable(unit, $"the server failed: {e.Message}");
        }
    }

    private object Manifest()
    {
        if (_store is null)
        {
            return Refuse(UnitServer.NoUnit, "no model store here");
        }

        if (_manifestReply is not null)
        {
            return _manifestReply;
        }

        var files = new List<WeightMessages.ModelFile>();
        foreach (var entry in _store.Manifest.Files)
        {
            string path = Path.Combine(_store.Directory, entry.Name);
            byte[] bytes;
            try
            {
                bytes = File.ReadAllBytes(path);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Not cached: the file may be readable next time.
                return Refuse(UnitServer.NoUnit, $"cannot read {entry.Name} of this store: {e.Message}");
            }

            // A requester would refuse it anyway; saying so here lets it ask another node straight away.
            if (bytes.Length != entry.Bytes || FileDigest.Sha256(bytes) != entry.Sha256)
            {
                return Refuse(UnitServer.NoUnit, $"{entry.Name} in this store does not match its manifest");
            }

            files.Add(new WeightMessages.ModelFile(entry.Name, bytes));
        }

        byte[] json = _store.Manifest.ToJson();
        long size = json.Length + files.Sum(f => (long)f.Data.Length);

        // Remoting drops a message larger than its frame with nothing but a log line on this side, which a requester
        // would see as a timeout; a refusal naming the size says what to change instead.
        if (size > _limits.MaxPayloadBytes)
        {
            return Refuse(UnitServer.NoUnit, $"manifest and model files are {size} bytes, more than the {_limits.MaxPayloadBytes} a message may carry");
        }

        _manifestReply = new WeightMessages.ManifestReply(json, files.ToArray());
        return _manifestReply;
    }

    private object Chunk(WeightMessages.FetchUnitChunk request)
    {
        var store = _store;
        if (store is null)
        {
            return Refuse(request.Unit, "no model store here");
        }

        if (request.Unit < 0 || request.Unit >= store.UnitCount)
        {
            return Refuse(request.Unit, $"unit {request.Unit} is outside [0, {store.UnitCount})");
        }

        if (request.Length <= 0 || request.Length > _limits.MaxChunkBytes)
        {
            return Refuse(request.Unit, $"chunk length {request.Length} is outside 1..{_limits.MaxChunkBytes}");
        }

        var entry = store.Unit(request.Unit);
        if (request.Offset < 0 || request.Offset >= entry.Bytes)
        {
            return Refuse(request.Unit, $"offset {request.Offset} is outside unit {entry.Name}'s {entry.Bytes} bytes");
        }

        if (!store.HasUnit(request.Unit))
        {
            return Refuse(request.Unit, $"unit {entry.Name} is not in this node's store");
        }

        // The last chunk of a file is whatever remains, so a requester may ask for a full chunk there.
        int length = (int)Math.Min(request.Length, entry.Bytes - request.Offset);
        string path = store.UnitPath(request.Unit);
        try
        {
            using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            long fileBytes = RandomAccess.GetLength(handle);
            if (fileBytes != entry.Bytes)
            {
                return Refuse(request.Unit, $"unit {entry.Name}'s file here has {fileBytes} bytes, not the manifest's {entry.Bytes}");
            }

            var data = new byte[length];
            for (int read = 0; read < length;)
            {
                int n = RandomAccess.Read(handle, data.AsSpan(read), request.Offset + read);
                if (n == 0)
                {
                    return Refuse(request.Unit, $"unit {entry.Name}'s file ended at {request.Offset + read} while being read");
                }

                read += n;
            }

            return new WeightMessages.UnitChunk(request.Unit, request.Offset, data, entry.Bytes);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            _log.Warning("reading unit {0} at {1}: {2}", entry.Name, request.Offset, e.Message);
            return Refuse(request.Unit, $"cannot read unit {entry.Name} here: {e.Message}");
        }
    }

    private WeightMessages.UnitUnavailable Refuse(int unit, string reason)
    {
        _log.Debug("refused {0} for unit {1}: {2}", Sender, unit, reason);
        return new WeightMessages.UnitUnavailable(unit, reason);
    }
}
