using System.Collections.Frozen;
using ActorLlm.Protocol.Messages;
using Akka.Actor;
using Akka.Serialization;
using MessagePack;
using MessagePack.Formatters;
using MessagePack.Resolvers;

namespace ActorLlm.Protocol.Serialization;

/// <summary>
/// The one serializer for our messages: MessagePack 2.5 in untrusted-data mode, each type named by a short,
/// stable manifest from a fixed table (never a type name read from the wire), every message validated
/// (<see cref="WireValidation"/>) as it is read. Bound to <see cref="IActorLlmMessage"/> in config.
/// </summary>
public sealed class ActorLlmSerializer : SerializerWithStringManifest
{
    /// <summary>Akka serializer id; stable forever once nodes talk to each other.</summary>
    public const int SerializerId = 7391;

    /// <summary>The manifest of every message type. Changing one breaks the wire: add, never rename.</summary>
    public static readonly FrozenDictionary<Type, string> Manifests = new Dictionary<Type, string>
    {
        [typeof(PlacementMessages.RegisterDevice)] = "p.reg",
        [typeof(PlacementMessages.DeviceRegistered)] = "p.reg-ok",
        [typeof(PlacementMessages.AssignUnits)] = "p.assign",
        [typeof(PlacementMessages.UnitsLoaded)] = "p.loaded",
        [typeof(PlacementMessages.UnitsLoadFailed)] = "p.load-failed",
        [typeof(PlacementMessages.ReleaseUnits)] = "p.release",
        [typeof(PlacementMessages.StageLoad)] = "p.load",
        [typeof(PlacementMessages.RouteTable)] = "p.routes",
        [typeof(PlacementMessages.GetRoutes)] = "p.get-routes",
        [typeof(PlacementMessages.Quarantine)] = "p.quarantine",
        [typeof(StageMessages.Forward)] = "s.fwd",
        [typeof(StageMessages.TokenSampled)] = "s.token",
        [typeof(StageMessages.PrefillDone)] = "s.prefilled",
        [typeof(StageMessages.ChoiceScored)] = "s.scored",
        [typeof(StageMessages.Audited)] = "s.audited",
        [typeof(StageMessages.StageFailed)] = "s.failed",
        [typeof(StageMessages.ReleaseSession)] = "s.release",
        [typeof(StageMessages.Supersede)] = "s.supersede",
        [typeof(WeightMessages.FetchManifest)] = "w.get-manifest",
        [typeof(WeightMessages.ManifestReply)] = "w.manifest",
        [typeof(WeightMessages.FetchUnitChunk)] = "w.get-chunk",
        [typeof(WeightMessages.UnitChunk)] = "w.chunk",
        [typeof(WeightMessages.UnitUnavailable)] = "w.unavailable",
        [typeof(WeightMessages.FetchFileChunk)] = "w.get-file-chunk",
        [typeof(WeightMessages.FileChunk)] = "w.file-chunk",
        [typeof(WeightMessages.FileUnavailable)] = "w.file-unavailable",
        [typeof(JobMessages.StartGeneration)] = "j.generate",
        [typeof(JobMessages.StartScoring)] = "j.score",
        [typeof(JobMessages.TextDelta)] = "j.text",
        [typeof(JobMessages.JobRouted)] = "j.routed",
        [typeof(JobMessages.GenerationCompleted)] = "j.done",
        [typeof(JobMessages.ScoringCompleted)] = "j.scores",
        [typeof(JobMessages.JobFailed)] = "j.failed",
        [typeof(StatusMessages.GetClusterStatus)] = "st.get",
        [typeof(StatusMessages.ClusterStatus)] = "st.status",
    }.ToFrozenDictionary();

    private static readonly FrozenDictionary<string, Type> s_types = Manifests.ToFrozenDictionary(p => p.Value, p => p.Key);

    private readonly MessagePackSerializerOptions _options;
    private readonly WireLimits _limits;

    public ActorLlmSerializer(ExtendedActorSystem system)
        : base(system)
    {
        _limits = WireLimits.From(system.Settings.Config.GetConfig("actorllm.wire"));
        var resolver = CompositeResolver.Create(
            [new ActorRefFormatter(system)],
            [StandardResolver.Instance]);
        _options = MessagePackSerializerOptions.Standard
            .WithResolver(resolver)
            .WithSecurity(MessagePackSecurity.UntrustedData);
    }

    public override int Identifier => SerializerId;

    public WireLimits Limits => _limits;

    public override string Manifest(object o) =>
        Manifests.TryGetValue(o.GetType(), out var m)
            ? m
            : throw new ArgumentException($"{o.GetType()} has no ActorLlm wire manifest; add it to ActorLlmSerializer.Manifests");

    public override byte[] ToBinary(object obj)
    {
        Manifest(obj);
        return MessagePackSerializer.Serialize(obj.GetType(), obj, _options);
    }

    public override object FromBinary(byte[] bytes, string manifest)
    {
        if (!s_types.TryGetValue(manifest, out var type))
        {
            throw new WireFormatException($"unknown message manifest '{manifest}'");
        }

        object? message;
        try
        {
            message = MessagePackSerializer.Deserialize(type, bytes, _options);
        }
        catch (MessagePackSerializationException e)
        {
            throw new WireFormatException($"malformed '{manifest}' message: {e.InnerException?.Message ?? e.Message}");
        }

        return WireValidation.Validate(message ?? throw new WireFormatException($"empty '{manifest}' message"), _limits);
    }

    /// <summary>Actor references travel as their full path and resolve on arrival, as Akka's own serializers do.</summary>
    private sealed class ActorRefFormatter(ExtendedActorSystem system) : IMessagePackFormatter<IActorRef?>
    {
        public void Serialize(ref MessagePackWriter writer, IActorRef? value, MessagePackSerializerOptions options)
        {
            if (value is null || value.IsNobody())
            {
                writer.WriteNil();
                return;
            }

            writer.Write(Akka.Serialization.Serialization.SerializedActorPath(value));
        }

        public IActorRef? Deserialize(ref MessagePackReader reader, MessagePackSerializerOptions options)
        {
            if (reader.TryReadNil())
            {
                return null;
            }

            string path = reader.ReadString() ?? throw new WireFormatException("actor path missing");
            return system.Provider.ResolveActorRef(path);
        }
    }
}
