using ActorLlm.Protocol.Serialization;

namespace ActorLlm.Cluster.Tests.Actors;

/// <summary>Actor system config for the one-actor tests of the cluster actors.</summary>
public static class ActorTestConfig
{
    /// <summary>
    /// The cluster provider (the actors ask <c>Cluster.Get</c> for their address and subscribe to membership events),
    /// remoting on loopback at an OS-chosen port, our serializer, and the stage workers' pinned dispatcher.
    /// The test system joins no cluster. serialize-messages stays off: the actors' private local messages (timer
    /// ticks, flushes, loaded executors, route selections) have no serializer binding once JSON is refused, and the
    /// wire messages' serialization is covered by the protocol tests.
    /// </summary>
    public const string Hocon = ProtocolConfig.Hocon + """

        akka.loglevel = WARNING
        akka.actor.provider = cluster
        akka.actor.serialize-messages = off
        akka.coordinated-shutdown.run-by-actor-system-terminate = off
        akka.cluster.run-coordinated-shutdown-when-down = off
        akka.remote.dot-netty.tcp {
          hostname = 127.0.0.1
          port = 0
        }
        actorllm.stage-dispatcher {
          type = PinnedDispatcher
          executor = thread-pool-executor
        }
        """;
}
