using System.Collections.Concurrent;
using Akka.Actor;
using Akka.Cluster;

namespace ActorLlm.Cluster.Security.Tls;

/// <summary>
/// What a volunteer may not do to the cluster: it is a member (it gossips, is watched, holds stages), but the
/// membership of the others is decided by trusted nodes. Applied by every TLS node to what arrives on an
/// association whose peer certificate says OU=volunteer (<see cref="GuardTransport"/>): a cluster user action (Down,
/// Leave, JoinTo: what <c>Cluster.Down(address)</c> on a member sends) is dropped, and so is gossip that moves
/// another member towards leaving the cluster (Leaving, Down) where this node's own view does not, unless this node
/// itself sees that member unreachable (then a volunteer may relay the downing of a dead node). Akka merges gossip
/// with Down winning, so a volunteer whose view has the gateway Down keeps gossiping it: that volunteer is downed.
/// </summary>
public static class MembershipGuard
{
    /// <summary>How far along the way out of the cluster a status is; a volunteer's gossip may not move others further.</summary>
    public static int Rank(MemberStatus status) => status switch
    {
        MemberStatus.Joining or MemberStatus.WeaklyUp => 0,
        MemberStatus.Up => 1,
        MemberStatus.Leaving => 2,
        MemberStatus.Exiting => 3,
        MemberStatus.Down => 4,
        _ => 5,
    };

    /// <summary>
    /// Why gossip from the volunteer <paramref name="sender"/> is refused, or null. <paramref name="gossip"/> is its
    /// members' statuses; <paramref name="local"/> this node's; <paramref name="unreachable"/> the members this node
    /// itself sees unreachable. Exiting is the leader's step for a member that is already Leaving by its own will,
    /// so a volunteer leader may relay that.
    /// </summary>
    public static string? RefuseGossip(
        Address sender,
        IEnumerable<(Address Address, MemberStatus Status)> gossip,
        IReadOnlyDictionary<Address, MemberStatus> local,
        IReadOnlySet<Address> unreachable)
    {
        foreach (var (address, status) in gossip)
        {
            if (address.Equals(sender) || !local.TryGetValue(address, out var mine) || Rank(status) <= Rank(mine))
            {
                continue;
            }

            bool relayedExit = status == MemberStatus.Exiting && mine == MemberStatus.Leaving;
            bool downOfUnreachable = status == MemberStatus.Down && unreachable.Contains(address);
            if (status is MemberStatus.Leaving or MemberStatus.Exiting or MemberStatus.Down && !relayedExit && !downOfUnreachable)
            {
                return $"its gossip marks {address} {status} (here: {mine})";
            }
        }

        return null;
    }

    /// <summary>Why a message of type <paramref name="typeName"/> (its full name) from a volunteer is refused before any reading of it, or null.</summary>
    public static string? RefuseMessage(string typeName) =>
        typeName.StartsWith("Akka.Cluster.ClusterUserAction+", StringComparison.Ordinal)
            ? $"a cluster user action ({typeName["Akka.Cluster.ClusterUserAction+".Length..]}) from a volunteer"
            : null;

    private static readonly ConcurrentDictionary<string, NodeTls> s_nodes = new(StringComparer.Ordinal);

    /// <summary>The config path naming the <see cref="NodeTls"/> of an actor system (the transport adapter is made by Akka, by type name).</summary>
    public const string InstancePath = "akka.remote.actorllm-guard.instance";

    /// <summary>Registers <paramref name="tls"/> for the actor system whose config names <paramref name="instance"/>.</summary>
    public static void Register(string instance, NodeTls tls) => s_nodes[instance] = tls;

    internal static NodeTls? Find(string instance) => s_nodes.TryGetValue(instance, out var tls) ? tls : null;

    /// <summary>The HOCON that puts the guard under the DotNetty transport, for the node registered as <paramref name="instance"/>.</summary>
    public static string Hocon(string instance) =>
        $$"""
        akka.remote {
          dot-netty.tcp.applied-adapters = [actorllm-guard]
          adapters.actorllm-guard = "{{typeof(GuardTransportProvider).FullName}},{{typeof(GuardTransportProvider).Assembly.GetName().Name}}"
          actorllm-guard.instance = "{{instance}}"
        }
        """;
}
