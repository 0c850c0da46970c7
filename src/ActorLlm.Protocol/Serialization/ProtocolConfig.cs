namespace ActorLlm.Protocol.Serialization;

/// <summary>The HOCON that binds our messages to our serializer and disables the JSON fallback.</summary>
public static class ProtocolConfig
{
    public const string Hocon = """
        akka.actor {
          serializers {
            actorllm = "ActorLlm.Protocol.Serialization.ActorLlmSerializer, ActorLlm.Protocol"
            json = "ActorLlm.Protocol.Serialization.RefusingJsonSerializer, ActorLlm.Protocol"
          }
          serialization-bindings {
            "ActorLlm.Protocol.IActorLlmMessage, ActorLlm.Protocol" = actorllm
          }
        }
        """;
}
