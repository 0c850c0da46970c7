using ActorLlm.Cluster.Security.Tls;
using Akka.Actor;

namespace ActorLlm.Cluster.Security;

/// <summary>
/// Where the pool's deny list meets the TLS layer: it refuses new associations of a revoked certificate
/// (<see cref="Policy"/>), and a trusted node downs the members already associated when their certificate is revoked
/// while they run (<see cref="DownWhenRevoked"/>), so a revocation takes effect at once, not at the next reconnect.
/// </summary>
public static class RevokedMembers
{
    /// <summary>The TLS validator's policy: refuses a peer whose name or serial the live deny list holds.</summary>
    public static IPeerPolicy Policy(DenyList deny) =>
        PeerPolicy.From(p => deny.Find(p.Name, p.Serial) is { } r ? Reason(r) : null);

    /// <summary>The members (other than this node) whose certificate, as the TLS layer saw it, the deny list now refuses.</summary>
    public static IReadOnlyList<(Address Address, PeerIdentity Peer, Revocation Revocation)> Find(
        IEnumerable<Address> members, Func<Address, PeerIdentity?> identityOf, DenyList deny) =>
        [.. members
            .Select(a => (Address: a, Peer: identityOf(a)))
            .Where(m => m.Peer is not null)
            .Select(m => (m.Address, Peer: m.Peer!, Revocation: deny.Find(m.Peer!.Name, m.Peer.Serial)))
            .Where(m => m.Revocation is not null)
            .Select(m => (m.Address, m.Peer, m.Revocation!))];

    /// <summary>
    /// On every growth of <paramref name="deny"/>, downs the members it now refuses. Only a trusted node does: the
    /// membership guard drops a volunteer's Down (and downs the volunteer for it), and the trusted nodes act anyway.
    /// </summary>
    public static void DownWhenRevoked(ActorSystem system, NodeTls tls, DenyList deny, Action<string> log)
    {
        if (tls.Credentials.Identity.Volunteer)
        {
            return;
        }

        deny.Changed += _ =>
        {
            if (system.WhenTerminated.IsCompleted)
            {
                return;
            }

            var cluster = Akka.Cluster.Cluster.Get(system);
            var members = cluster.State.Members.Select(m => m.Address).Where(a => a != cluster.SelfAddress);
            foreach (var (address, peer, revocation) in Find(members, a => a.Port is { } port ? tls.Validator.Peers.AtAddress(a.Host ?? "", port) : null, deny))
            {
                log($"deny list: downing {address}: its certificate ({peer.Name}, serial {peer.Serial}) is revoked {Reason(revocation)}");
                cluster.Down(address);
            }
        };
    }

    private static string Reason(Revocation r) => $"since {r.Time:u} ({(r.Serial is null ? "by name" : "by serial")})";
}
