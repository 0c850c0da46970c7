using ActorLlm.Inference;
using ActorLlm.Inference.Checkpoints;
using ActorLlm.Protocol.Messages;
using ActorLlm.Protocol.Serialization;
using Akka.Actor;
using Akka.Event;

namespace ActorLlm.Cluster.Weights.Internal;

/// <summary>
/// See <see cref="UnitServer"/>. Reads are positioned reads on a handle opened per request (<see cref="UnitStore.ReadUnit"/>,
/// <see cref="PositionedRead"/>): nothing stays open between requests, so a unit installed or replaced meanwhile is
/// simply read as it now is, and a chunk of a multi-gigabyte unit costs one read of at most the chunk's size. A store
/// served in place from a Hugging Face directory composes each unit's bytes from the checkpoint's files.
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
        Receive<WeightMessages.FetchFileChunk>(r => Sender.Tell(AnswerFile(r.Name, () => FileChunk(r))));
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

    private object AnswerFile(string name, Func<object> answer)
    {
        try
        {
            return answer();
        }
        catch (Exception e)
        {
            _log.Error(e, "answering a request for file {0}", name);
            return new WeightMessages.FileUnavailable(name, $"the server failed: {e.Message}");
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

        // Checked once (the reply is kept): a requester would refuse a mismatched file after pulling it anyway; saying
        // so here lets it ask another node straight away.
        foreach (var entry in _store.Manifest.Files)
        {
            string path = Path.Combine(_store.Directory, entry.Name);
            try
            {
                var (bytes, sha) = FileDigest.Of(path);
                if (bytes != entry.Bytes || sha != entry.Sha256)
                {
                    return Refuse(UnitServer.NoUnit, $"{entry.Name} in this store does not match its manifest");
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Not cached: the file may be readable next time.
                return Refuse(UnitServer.NoUnit, $"cannot read {entry.Name} of this store: {e.Message}");
            }
        }

        byte[] json = _store.Manifest.ToJson();

        // Remoting drops a message larger than its frame with nothing but a log line on this side, which a requester
        // would see as a timeout; a refusal naming the size says what to change instead. (The manifest lists names,
        // shapes and digests only: tens of kilobytes for a model of hundreds of layers.)
        if (json.Length > _limits.MaxPayloadBytes)
        {
            return Refuse(UnitServer.NoUnit, $"the manifest is {json.Length} bytes, more than the {_limits.MaxPayloadBytes} a message may carry");
        }

        _manifestReply = new WeightMessages.ManifestReply(json);
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
        try
        {
            var data = new byte[length];
            store.ReadUnit(request.Unit, request.Offset, data);
            return new WeightMessages.UnitChunk(request.Unit, request.Offset, data, entry.Bytes);
        }
        catch (ModelFormatException e)
        {
            _log.Warning("reading unit {0} at {1}: {2}", entry.Name, request.Offset, e.Message);
            return Refuse(request.Unit, e.Message);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            _log.Warning("reading unit {0} at {1}: {2}", entry.Name, request.Offset, e.Message);
            return Refuse(request.Unit, $"cannot read unit {entry.Name} here: {e.Message}");
        }
    }

    private object FileChunk(WeightMessages.FetchFileChunk request)
    {
        var store = _store;
        if (store is null)
        {
            return RefuseFile(request.Name, "no model store here");
        }

        // Only names the manifest lists (which it validates: plain names of known files), so no path is ever built
        // from what a requester sent.
        var entry = store.Manifest.Files.FirstOrDefault(f => f.Name == request.Name);
        if (entry is null)
        {
            return RefuseFile(request.Name, $"'{request.Name}' is not a file of this model's manifest");
        }

        if (request.Length <= 0 || request.Length > _limits.MaxChunkBytes)
        {
            return RefuseFile(request.Name, $"chunk length {request.Length} is outside 1..{_limits.MaxChunkBytes}");
        }

        if (request.Offset < 0 || request.Offset >= entry.Bytes)
        {
            return RefuseFile(request.Name, $"offset {request.Offset} is outside {entry.Name}'s {entry.Bytes} bytes");
        }

        int length = (int)Math.Min(request.Length, entry.Bytes - request.Offset);
        string path = Path.Combine(store.Directory, entry.Name);
        try
        {
            var data = new byte[length];
            if (PositionedRead.Exactly(path, entry.Bytes, request.Offset, data) is { } problem)
            {
                return RefuseFile(request.Name, problem);
            }

            return new WeightMessages.FileChunk(entry.Name, request.Offset, data, entry.Bytes);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            _log.Warning("reading {0} at {1}: {2}", entry.Name, request.Offset, e.Message);
            return RefuseFile(request.Name, $"cannot read {entry.Name} here: {e.Message}");
        }
    }

    private WeightMessages.FileUnavailable RefuseFile(string name, string reason)
    {
        _log.Debug("refused {0} for file {1}: {2}", Sender, name, reason);
        return new WeightMessages.FileUnavailable(name, reason);
    }

    private WeightMessages.UnitUnavailable Refuse(int unit, string reason)
    {
        _log.Debug("refused {0} for unit {1}: {2}", Sender, unit, reason);
        return new WeightMessages.UnitUnavailable(unit, reason);
    }
}
