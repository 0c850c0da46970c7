using ActorLlm.Inference.Checkpoints;
using ActorLlm.Inference.Config;
using ActorLlm.Inference.Devices;
using ActorLlm.Inference.Model;
using ActorLlm.Inference.Native;
using ActorLlm.Protocol;
using static TorchSharp.torch;

namespace ActorLlm.Inference.Execution;

/// <summary>
/// One request to a stage: T new tokens of one session, at positions StartPosition .. StartPosition+T-1.
/// <see cref="TokenIds"/> are always given (the first stage embeds them; every stage checks them and the last one
/// uses them for repetition penalties); <see cref="Hidden"/> [T, hidden] is the previous stage's output and is
/// required unless the stage holds the begin unit. The caller keeps ownership of <see cref="Hidden"/>.
/// </summary>
public sealed record StageInput(SessionId Session, int StartPosition, int[] TokenIds, Tensor? Hidden = null, bool AllLogits = false)
{
    public int Tokens => TokenIds.Length;
}

/// <summary>
/// A stage's answer for one session: hidden states [T, hidden] when the stage does not hold the end unit,
/// otherwise float32 logits, [1, vocab] for the last position or [T, vocab] when all were asked for.
/// The receiver owns the tensors.
/// </summary>
public sealed class StageOutput(SessionId session, Tensor? hidden, Tensor? logits) : IDisposable
{
    public SessionId Session { get; } = session;

    public Tensor? Hidden { get; } = hidden;

    public Tensor? Logits { get; } = logits;

    public void Dispose()
    {
        Hidden?.Dispose();
        Logits?.Dispose();
    }
}

/// <summary>
/// How many of a stage's decoder layers are streamed from host memory (the last ones of its range) and through how
/// many device buffers. Zero streamed layers: every layer is resident.
/// </summary>
public sealed record LayerStreaming(int StreamedLayers, int RingSlots = StreamLayout.DefaultRingSlots)
{
    public static LayerStreaming None { get; } = new(0);
}

/// <summary>
/// Runs a contiguous unit range [start, end) of a model on one device for a batch of sessions, keeping each
/// session's KV cache between calls (prefill, then incremental decode). Requests with the same number of new
/// tokens run as one batched pass. Every request is validated before anything changes, so a bad request
/// leaves all sessions as they were. Not thread-safe: one executor belongs to one thread (a stage actor).
/// </summary>
public sealed class StageExecutor : IDisposable
{
    private readonly TokenEmbedding? _embedding;
    private readonly DecoderLayer[] _layers;           // resident layers, first in the range
    private readonly LayerStreamer? _streamer;          // the rest, streamed from host memory
    private readonly int _layerCount;
    private readonly LmHead? _head;
    private readonly RotaryEmbedding _rope;
    private readonly KvCache _cache;
    private readonly DecodeGraphs _rows;
    private readonly bool _graphsWanted;
    private DecodePath _decodePath;

    private StageExecutor(ModelConfig config, UnitRange range, ComputeTarget target, KvCacheOptions cacheOptions, WeightLoader weights, bool cudaGraphs, LayerStreaming streaming)
    {
        Config = config;
        Range = range;
        Target = target;
        var created = new List<IDisposable>();
        try
        {
            if (range.Contains(0))
            {
                _embedding = Track(new TokenEmbedding(config, weights), created);
            }

            int firstLayer = Math.Max(range.Start, 1) - 1;
            int lastLayer = Math.Min(range.End, config.NumLayers + 1) - 1; // exclusive
            _layerCount = Math.Max(0, lastLayer - firstLayer);
            if (streaming.StreamedLayers < 0 || streaming.StreamedLayers > _layerCount || streaming.RingSlots < 1)
            {
                throw new InvalidRequestException(
                    $"stage {range}: cannot stream {streaming.StreamedLayers} of its {_layerCount} layers through {streaming.RingSlots} ring slot(s)");
            }

            int residentLayers = _layerCount - streaming.StreamedLayers;
            _layers = Enumerable.Range(firstLayer, residentLayers)
                .Select(i => Track(new DecoderLayer(config, weights, i), created))
                .ToArray();
            if (streaming.StreamedLayers > 0)
            {
                _streamer = Track(LayerStreamer.Load(config, weights, Enumerable.Range(firstLayer + residentLayers, streaming.StreamedLayers).ToArray(), streaming.RingSlots), created);
            }

            if (range.Contains(config.NumLayers + 1))
            {
                _head = Track(new LmHead(config, weights), created);
            }

            // The cache and rotary tables get one position past the context: the scratch position that rows a
            // fixed-shape decode pass does not serve write to (see DecodeGraphs).
            _rope = Track(new RotaryEmbedding(config.Rope, config.HeadDim, cacheOptions.MaxContext + 1, target), created);
            _cache = new KvCache(_layerCount, config.NumKvHeads, config.HeadDim, cacheOptions, target, scratchColumn: true);
            _rows = new DecodeGraphs(RowsStep, target.Device, cacheOptions.MaxSessions, cacheOptions.MaxContext, _embedding is null, config.HiddenSize, target.DType);
            // A captured graph would replay the copies into the ring as they were at capture (and events cannot be
            // waited on inside a capture the way the ring needs): a streamed stage decodes eagerly.
            DecodePath = target.IsCuda && cudaGraphs && CudaNative.IsAvailable && _streamer is null ? DecodePath.Graph : DecodePath.Eager;
            _graphsWanted = cudaGraphs;
        }
        catch
        {
            foreach (var d in created)
            {
                d.Dispose();
            }

            throw;
        }
    }

    private static T Track<T>(T item, List<IDisposable> created)
        where T : IDisposable
    {
        created.Add(item);
        return item;
    }

    public ModelConfig Config { get; }

    public UnitRange Range { get; }

    public ComputeTarget Target { get; }

    public bool HasBegin => _embedding is not null;

    /// <summary>Query heads per key/value head.</summary>
    private int Groups => Config.NumHeads / Config.NumKvHeads;

    public bool HasEnd => _head is not null;

    public KvCacheOptions CacheOptions => _cache.Options;

    public int ActiveSessions => _cache.ActiveSessions;

    /// <summary>
    /// How decode passes run: <see cref="DecodePath.Graph"/> on CUDA with the native library (unless graphs were turned
    /// off), else <see cref="DecodePath.Eager"/>. <see cref="DecodePath.Rows"/> runs anywhere (tests compare it with
    /// Eager on CPU); Graph needs CUDA and the native library. A failed capture turns graphs off for good (see
    /// <see cref="PathDescription"/>).
    /// </summary>
    public DecodePath DecodePath
    {
        get => _rows.Failure is null ? _decodePath : DecodePath.Eager;
        set
        {
            if (value == DecodePath.Graph && _streamer is not null)
            {
                throw new InvalidOperationException($"decode path {value} cannot serve a streamed stage ({StreamingDescription})");
            }

            if (value == DecodePath.Graph && (!Target.IsCuda || !CudaNative.IsAvailable))
            {
                throw new InvalidOperationException($"decode path {value} needs CUDA and the native library ({Target}; {CudaNative.Description})");
            }

            _decodePath = value;
        }
    }

    /// <summary>Which path this stage's decode passes take, and why (logged when a stage loads).</summary>
    public string PathDescription => _streamer is null ? DecodeDescription : $"{DecodeDescription}; {StreamingDescription}";

    private string DecodeDescription => DecodePath switch
    {
        DecodePath.Graph => $"decode by CUDA graph replay ({CudaNative.Description}; fused kernels {(CudaNative.UseKernels ? "on" : "off")}); prefill eager",
        DecodePath.Rows => "decode eager over fixed cache rows (graphs off); prefill eager",
        _ when _rows.Failure is string failure => $"eager: {failure}",
        _ when !Target.IsCuda => $"eager ({Target.Device.type.ToString().ToLowerInvariant()})",
        _ when _streamer is not null && Target.IsCuda => "eager (a streamed stage does not decode by CUDA graphs)",
        _ when !_graphsWanted => "eager (CUDA graphs turned off)",
        _ => $"eager: {CudaNative.Description}",
    };

    /// <summary>Decoder layers of the stage kept on its device.</summary>
    public int ResidentLayers => _layers.Length;

    /// <summary>Decoder layers streamed from host memory for every pass (the last ones of the range).</summary>
    public int StreamedLayers => _streamer?.Count ?? 0;

    /// <summary>The units whose layers are streamed, or null when the stage is wholly resident.</summary>
    public UnitRange? StreamedUnits => _streamer is null ? null : new UnitRange(LastLayerUnit - _streamer.Count + 1, LastLayerUnit + 1);

    private int LastLayerUnit => Math.Min(Range.End, Config.NumLayers + 1) - 1;

    /// <summary>Host-to-device bytes one pass copies into the ring (0 when nothing streams).</summary>
    public long StreamedBytesPerPass => _streamer?.BytesPerPass ?? 0;

    /// <summary>Bytes copied into the ring since load.</summary>
    public long StreamedBytesCopied => _streamer?.CopiedBytes ?? 0;

    /// <summary>How the streamed layers move, for the log; empty when nothing streams.</summary>
    public string StreamingDescription => _streamer is not { } s ? "" :
        $"{s.Count} of {_layerCount} layers streamed from {(Target.IsCuda ? "pinned" : "host")} memory through a ring of {s.Slots} slot(s), "
        + $"{s.BytesPerPass / 1048576.0:F1} MiB per pass, copies {(s.Overlaps ? "on a copy stream overlapping compute" : Target.IsCuda ? "on the compute stream (no native library: no overlap)" : "synchronous (CPU)")}";

    /// <summary>
    /// How many of <paramref name="range"/>'s layers must stream so its weights on the device, in <paramref name="dtype"/>,
    /// stay within <paramref name="residentBudget"/> bytes (see <see cref="StreamLayout"/>).
    /// </summary>
    public static LayerStreaming StreamingFor(IWeightSource source, UnitRange range, ScalarType dtype, long residentBudget, int ringSlots = StreamLayout.DefaultRingSlots)
    {
        var info = ModelInfo.Of(source);
        int element = ModelInfo.BytesPerElement(dtype);
        var units = info.Units.Where(u => range.Contains(u.Index)).ToArray();
        bool IsLayer(UnitInfo u) => u.Index > 0 && u.Index <= source.Config.NumLayers;
        var layers = units.Where(IsLayer).Select(u => u.DeviceBytes(element, info.Weights)).ToArray();
        long fixedBytes = units.Where(u => !IsLayer(u)).Sum(u => u.DeviceBytes(element, info.Weights));
        return new LayerStreaming(StreamLayout.StreamedLayers(layers, fixedBytes, residentBudget, ringSlots), ringSlots);
    }

    /// <summary>CUDA graphs captured so far (one per decode bucket used).</summary>
    public int GraphCaptures => _rows.Captures;

    /// <summary>
    /// Loads units [range.Start, range.End) from <paramref name="source"/> (reading only their tensors) onto
    /// <paramref name="target"/>. The context is capped at the model's max_position_embeddings.
    /// </summary>
    /// <param name="cudaGraphs">Decode by CUDA graph replay where it can (CUDA and the native library present).</param>
    /// <param name="streaming">How many of the range's layers to stream from host memory (default: none).</param>
    /// <param name="progress">Told (bytes read, bytes in all) after each tensor read (<see cref="ObservedWeightSource"/>).</param>
    public static StageExecutor Load(IWeightSource source, UnitRange range, ComputeTarget target, KvCacheOptions? cache = null, bool cudaGraphs = true, LayerStreaming? streaming = null, Action<long, long>? progress = null)
    {
        if (progress is not null)
        {
            source = new ObservedWeightSource(source, range, progress);
        }

        var config = source.Config;
        if (range.End > config.UnitCount)
        {
            throw new InvalidRequestException($"unit range {range} exceeds the model's {config.UnitCount} units (begin, {config.NumLayers} layers, end)");
        }

        cache ??= new KvCacheOptions();
        cache = cache with { MaxContext = Math.Min(cache.MaxContext, config.MaxPositionEmbeddings) };
        using var noGrad = no_grad();
        return new StageExecutor(config, range, target, cache, new WeightLoader(source, target), cudaGraphs, streaming ?? LayerStreaming.None);
    }

    /// <summary>True if <paramref name="session"/> holds a KV cache slot here.</summary>
    public bool HasSession(SessionId session) => _cache.Has(session);

    /// <summary>Sessions that can still start here before the cache is full.</summary>
    public int FreeSlots => _cache.Options.MaxSessions - _cache.ActiveSessions;

    /// <summary>Positions this stage holds for <paramref name="session"/>.</summary>
    public int Length(SessionId session) => _cache.Length(session);

    /// <summary>Frees the session's KV cache slot. Returns false if it held none.</summary>
    public bool Release(SessionId session) => _cache.Release(session);

    /// <summary>Runs one pass for every request; outputs are in request order.</summary>
    public IReadOnlyList<StageOutput> Forward(IReadOnlyList<StageInput> inputs)
    {
        Validate(inputs);
        using var noGrad = no_grad();
        var outputs = new StageOutput?[inputs.Count];
        foreach (var group in inputs.Select((input, index) => (input, index)).GroupBy(p => p.input.Tokens))
        {
            var members = group.ToArray();
            var results = RunGroup(members.Select(m => m.input).ToArray());
            for (int i = 0; i < members.Length; i++)
            {
                outputs[members[i].index] = results[i];
            }
        }

        return outputs!;
    }

    private void Validate(IReadOnlyList<StageInput> inputs)
    {
        if (inputs.Count == 0)
        {
            throw new InvalidRequestException("a stage pass needs at least one request");
        }

        if (inputs.Select(i => i.Session).Distinct().Count() != inputs.Count)
        {
            throw new InvalidRequestException("a session may appear only once per stage pass");
        }

        int newSessions = inputs.Count(i => !_cache.Has(i.Session));
        int free = _cache.Options.MaxSessions - _cache.ActiveSessions;
        if (newSessions > free)
        {
            throw new InvalidRequestException($"stage is full: {newSessions} new sessions but {free} free KV cache slots of {_cache.Options.MaxSessions}");
        }

        foreach (var input in inputs)
        {
            if (input.Tokens == 0)
            {
                throw new InvalidRequestException($"session {input.Session}: no tokens");
            }

            foreach (int id in input.TokenIds)
            {
                if (id < 0 || id >= Config.VocabSize)
                {
                    throw new InvalidRequestException($"session {input.Session}: token id {id} is outside the vocabulary [0, {Config.VocabSize})");
                }
            }

            _cache.CheckWrite(input.Session, input.StartPosition, input.Tokens);
            if (!HasBegin)
            {
                CheckHidden(input);
            }
        }
    }

    private void CheckHidden(StageInput input)
    {
        var h = input.Hidden ?? throw new InvalidRequestException(
            $"session {input.Session}: stage {Range} does not hold the embedding, so it needs hidden states, not only token ids");
        if (h.dim() != 2 || h.shape[0] != input.Tokens || h.shape[1] != Config.HiddenSize)
        {
            throw new InvalidRequestException(
                $"session {input.Session}: hidden states have shape [{string.Join(", ", h.shape)}], expected [{input.Tokens}, {Config.HiddenSize}]");
        }

        if (!h.is_floating_point())
        {
            throw new InvalidRequestException($"session {input.Session}: hidden states must be floating point, got {h.dtype}");
        }

        using var isFinite = h.isfinite();
        using var finite = isFinite.all();
        if (!finite.item<bool>())
        {
            throw new InvalidRequestException($"session {input.Session}: hidden states contain NaN or infinite values");
        }
    }

    private StageOutput[] RunGroup(StageInput[] rows)
    {
        int tokens = rows[0].Tokens;
        var slots = rows.Select(r => _cache.Acquire(r.Session)).ToArray();
        var path = DecodePath;
        if (tokens == 1 && path != DecodePath.Eager)
        {
            try
            {
                return RunRows(rows, slots, path == DecodePath.Graph);
            }
            catch (CudaNativeException) when (_rows.Failure is not null)
            {
                // The capture failed before the pass wrote anything; graphs are off from now on, this pass runs eagerly.
            }
        }

        using var scope = NewDisposeScope();
        var batch = new AttentionBatch(slots, rows.Select(r => r.StartPosition).ToArray(), tokens, _rope, Config.SlidingWindow, Groups, Config.NumKvHeads, Target.DType, Target.Device);

        Tensor x = _embedding is not null
            ? _embedding.Forward(tensor(rows.SelectMany(r => r.TokenIds.Select(i => (long)i)).ToArray(), [rows.Length, tokens], ScalarType.Int64, Target.Device))
            : stack(rows.Select(r => r.Hidden!.to(Target.DType, Target.Device)).ToArray());   // [B, T, hidden]
        x = RunLayers(x, batch, ownsInput: true);

        var outputs = new StageOutput[rows.Length];
        if (_head is null)
        {
            for (int b = 0; b < rows.Length; b++)
            {
                outputs[b] = new StageOutput(rows[b].Session, x[b].contiguous().DetachFromDisposeScope(), null);
            }
        }
        else if (rows.Any(r => r.AllLogits))
        {
            var logits = _head.Forward(x);                                                 // [B, T, vocab]
            for (int b = 0; b < rows.Length; b++)
            {
                var row = rows[b].AllLogits ? logits[b] : logits[b].narrow(0, tokens - 1, 1);
                outputs[b] = new StageOutput(rows[b].Session, null, row.contiguous().DetachFromDisposeScope());
            }
        }
        else
        {
            var logits = _head.Forward(x.narrow(1, tokens - 1, 1));                        // [B, 1, vocab]
            for (int b = 0; b < rows.Length; b++)
            {
                outputs[b] = new StageOutput(rows[b].Session, null, logits[b].contiguous().DetachFromDisposeScope());
            }
        }

        for (int b = 0; b < rows.Length; b++)
        {
            _cache.SetLength(rows[b].Session, rows[b].StartPosition + tokens);
        }

        return outputs;
    }

    /// <summary>Runs every layer of the stage on <paramref name="x"/> [B, T, hidden]; disposes x if it owns it.</summary>
    private Tensor RunLayers(Tensor x, AttentionBatch batch, bool ownsInput)
    {
        for (int i = 0; i < _layerCount; i++)
        {
            // Each layer's temporaries are freed as soon as it is done, not at the end of the pass.
            using var layerScope = NewDisposeScope();
            int streamed = i - _layers.Length;
            var layer = streamed < 0 ? _layers[i] : _streamer!.Acquire(streamed);
            var next = layer.Forward(x, batch, _cache.Keys(i), _cache.Values(i)).MoveToOuterDisposeScope();
            if (streamed >= 0)
            {
                _streamer!.Release(streamed);
            }

            if (ownsInput || i > 0)
            {
                x.Dispose();
            }

            x = next;
        }

        return x;
    }

    /// <summary>A decode pass over cache rows 0..N-1 (see <see cref="DecodeGraphs"/>), eagerly or by graph replay.</summary>
    private StageOutput[] RunRows(StageInput[] rows, int[] slots, bool replay)
    {
        using var scope = NewDisposeScope();
        var hidden = _embedding is null ? stack(rows.Select(r => r.Hidden!).ToArray()) : null;        // [B, 1, hidden]
        var output = _rows.Run(slots, rows.Select(r => r.StartPosition).ToArray(), rows.Select(r => r.TokenIds[0]).ToArray(), hidden, replay);
        var outputs = new StageOutput[rows.Length];
        for (int b = 0; b < rows.Length; b++)
        {
            var row = output[b].DetachFromDisposeScope();                                            // [1, hidden] or [1, vocab]
            outputs[b] = _head is null ? new StageOutput(rows[b].Session, row, null) : new StageOutput(rows[b].Session, null, row);
            _cache.SetLength(rows[b].Session, rows[b].StartPosition + 1);
        }

        return outputs;
    }

    /// <summary>
    /// The fixed-shape decode pass a graph captures: token ids and positions from <paramref name="meta"/> [3, N] (or
    /// hidden states [N, 1, hidden]), every layer over cache rows 0..N-1 and keys [0, S); [N, 1, hidden] or logits [N, 1, vocab].
    /// </summary>
    private Tensor RowsStep(Tensor meta, Tensor? hidden, int rowCount, int keys)
    {
        var positions = meta[1].view(rowCount, 1);
        var batch = AttentionBatch.ForRows(positions, keys, _rope, Config.SlidingWindow, Groups, Config.NumKvHeads, Target.DType, Target.Device);
        var x = _embedding is not null ? _embedding.Forward(meta[0].view(rowCount, 1)) : hidden!;
        x = RunLayers(x, batch, ownsInput: _embedding is not null);
        return _head is null ? x : _head.Forward(x);
    }

    /// <summary>Runs the final norm alone on [.., hidden] (conformance checks against transformers' last hidden state).</summary>
    public Tensor FinalNorm(Tensor hidden)
    {
        var head = _head ?? throw new InvalidOperationException("this stage does not hold the end unit");
        using var noGrad = no_grad();
        return head.Norm(hidden.to(Target.DType, Target.Device));
    }

    public void Dispose()
    {
        _embedding?.Dispose();
        foreach (var l in _layers)
        {
            l.Dispose();
        }

        _streamer?.Dispose();
        _head?.Dispose();
        _rows.Dispose();
        _rope.Dispose();
        _cache.Dispose();
    }
}
