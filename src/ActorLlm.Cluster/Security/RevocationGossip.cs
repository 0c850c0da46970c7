using Akka.Actor;

namespace ActorLlm.Cluster.Security;

/// <summary>
/// Spreads the deny list to every member: a grow-only set in Akka Distributed Data (key "actorllm-revoked") of
/// <see cref="SignedRevocation"/>s. The gateway holding the CA signs each entry of its revoked.json (as `pool
/// revoke` changes it) into the set; every node with pool credentials merges the entries whose signature checks
/// into its live <see cref="DenyList"/> (and, if it holds no CA, into its own revoked.json, so a restarted node
/// enforces them before it rejoins). A node that joins later gets the whole set by gossip.
/// </summary>
public static class RevocationGossip
{
    public const string ActorName = "revocation-gossip";

    /// <summary>Starts it on <paramref name="system"/> when this node holds pool credentials; null otherwise (nothing to check entries with).</summary>
    public static IActorRef? Start(ActorSystem system, PoolSecurity pool) =>
        pool.Credentials is null ? null : system.ActorOf(Props.Create(() => new Internal.RevocationGossipActor(pool)), ActorName);
}
