using Akka.Actor;

namespace ActorLlm.Protocol.Serialization;

/// <summary>
/// Takes the place of Akka's default JSON serializer (id 1), which records .NET type names and instantiates
/// whatever type a message names. Nothing of ours uses it, and with this in its place a message arriving with
/// id 1 is refused instead of deserialized; a local attempt to send an unbound type fails loudly.
/// </summary>
public sealed class RefusingJsonSerializer : Akka.Serialization.Serializer
{
    public RefusingJsonSerializer(ExtendedActorSystem system)
        : base(system)
    {
    }

    /// <summary>Akka passes the "json" entry of serialization-settings; there is nothing to configure.</summary>
    public RefusingJsonSerializer(ExtendedActorSystem system, Akka.Configuration.Config settings)
        : base(system)
    {
        _ = settings;
    }

    public override int Identifier => 1;

    public override bool IncludeManifest => false;

    public override byte[] ToBinary(object obj) =>
        throw new NotSupportedException(
            $"{obj.GetType()} has no serializer binding; ActorLlm never falls back to JSON with type names (see docs/protocol.md)");

    public override object FromBinary(byte[] bytes, Type type) =>
        throw new WireFormatException("refused a message in Akka's JSON format: type names are never read from the network");
}
