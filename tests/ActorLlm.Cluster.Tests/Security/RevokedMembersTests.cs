using ActorLlm.Cluster.Security;
using ActorLlm.Cluster.Security.Tls;
using Akka.Actor;
using Xunit;

namespace ActorLlm.Cluster.Tests.Security;

/// <summary>The deny list as the TLS layer's policy, and which running members a revocation downs.</summary>
public sealed class RevokedMembersTests
{
    private static readonly DateTimeOffset s_now = new(2026, 12, 2, 12, 0, 0, TimeSpan.Zero);

    private static PeerIdentity Peer(string name, string serial, bool volunteer = false) =>
        new(name, volunteer, "p1", serial, s_now.AddDays(30));

    private static Address At(int port) => new("akka.ssl.tcp", "actorllm", "10.0.0.2", port);

    [Fact]
    public void The_policy_refuses_a_revoked_name_or_serial_and_follows_the_live_list()
    {
        var deny = new DenyList();
        var policy = RevokedMembers.Policy(deny);
        Assert.Null(policy.Refuse(Peer("alice", "AA01")));

        deny.Merge([new Revocation("alice", null, s_now)]);
        Assert.Contains("by name", policy.Refuse(Peer("alice", "AA02")));
        Assert.Null(policy.Refuse(Peer("bob", "BB01")));

        deny.Merge([new Revocation("bob", "bb01", s_now)]);
        Assert.Contains("by serial", policy.Refuse(Peer("bob", "BB01")));
        Assert.Null(policy.Refuse(Peer("bob", "BB02")));   // bob's other (newer) certificate was not revoked
    }

    [Fact]
    public void Only_members_whose_seen_certificate_is_revoked_are_downed()
    {
        var deny = new DenyList();
        deny.Merge([new Revocation("alice", null, s_now), new Revocation("carol", "CC01", s_now)]);
        var seen = new Dictionary<Address, PeerIdentity>
        {
            [At(1)] = Peer("alice", "AA01", volunteer: true),
            [At(2)] = Peer("bob", "BB01"),
            [At(3)] = Peer("carol", "CC02"),   // a renewed certificate, not the revoked serial
            [At(4)] = Peer("carol", "CC01"),
        };
        var members = new[] { At(1), At(2), At(3), At(4), At(5) };   // At(5): no association seen yet
        var down = RevokedMembers.Find(members, a => seen.GetValueOrDefault(a), deny);
        Assert.Equal([At(1), At(4)], down.Select(d => d.Address));
        Assert.Equal(["alice", "carol"], down.Select(d => d.Peer.Name));
        Assert.Empty(RevokedMembers.Find(members, a => seen.GetValueOrDefault(a), new DenyList()));
    }
}
