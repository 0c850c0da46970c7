using ActorLlm.Cluster.Hosting;
using ActorLlm.Inference.Tokenization;
using ActorLlm.Protocol.Messages;
using Akka.Actor;
using Akka.Cluster.Sharding;

namespace ActorLlm.Cluster.Session;

/// <summary>What every session on a gateway shares.</summary>
/// <param name="ContextLimit">Longest sequence the stages hold (worker.max-context, capped by the model).</param>
/// <param name="MaxPayloadBytes">Largest activation a message may carry; prompt chunks are cut to fit.</param>
/// <param name="Coordinator">The PlacementCoordinator (proxy): told of devices verification caught lying; null: nobody (tests).</param>
public sealed record SessionContext(
    TextTokenizer Tokenizer,
    SessionSettings Settings,
    int HiddenSize,
    int Layers,
    int ContextLimit,
    long MaxPayloadBytes,
    IActorRef RouteCache,
    IActorRef? Coordinator = null);

/// <summary>
/// One job (a generation or a scoring), as an Akka.Cluster.Sharding entity on gateway nodes so any gateway can reach
/// it. It tokenizes, picks a route (one replica per unit range, least loaded), sends the activations stage to stage
/// (each stage forwards to the next), receives the sampled token from the last stage, streams text to the client,
/// and on a stage failure or timeout replays the job's tokens through another route and carries on. It releases the
/// stages' KV caches when done. Messages: JobMessages.StartGeneration / StartScoring from clients (through the shard
/// region); StageMessages.TokenSampled / PrefillDone / ChoiceScored / StageFailed from the last (or a failing) stage.
/// </summary>
public static class GenerationSession
{
    /// <summary>The shard region's type name.</summary>
    public const string TypeName = "session";

    public static Props Props(SessionContext context) => Akka.Actor.Props.Create(() => new Internal.GenerationSessionActor(context));

    /// <summary>Routes client messages to the session entity named by the message's session id (envelopes are unwrapped by Akka).</summary>
    public sealed class MessageExtractor(int shards) : HashCodeMessageExtractor(shards)
    {
        public override string? EntityId(object message) => message switch
        {
            JobMessages.StartGeneration g => g.Session.Value,
            JobMessages.StartScoring s => s.Session.Value,
            _ => null,
        };
    }
}
