namespace ActorLlm.Protocol;

/// <summary>
/// Marks every message of ours that may cross the network. Akka binds this interface to
/// <see cref="Serialization.ActorLlmSerializer"/> (MessagePack, untrusted-data mode, short stable manifests),
/// so none of our messages ever falls back to a serializer that reads type names from the wire.
/// </summary>
public interface IActorLlmMessage
{
}
