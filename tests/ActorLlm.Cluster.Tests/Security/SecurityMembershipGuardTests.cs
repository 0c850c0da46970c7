using ActorLlm.Cluster.Security.Tls;
using Akka.Actor;
using Akka.Cluster;
using Xunit;

namespace ActorLlm.Cluster.Tests.Security;

/// <summary>What a volunteer may not tell the cluster (<see cref="MembershipGuard"/>), and how peers are keyed.</summary>
public sealed class SecurityMembershipGuardTests
{
    private static readonly Address s_volunteer = new("akka.ssl.tcp", "actorllm", "10.0.0.9", 4059);
    private static readonly Address s_gateway = new("akka.ssl.tcp", "actorllm", "10.0.0.1", 4050);
    private static readonly Address s_worker = new("akka.ssl.tcp", "actorllm", "10.0.0.2", 4051);

    private static string? Refuse(MemberStatus gateway, MemberStatus worker, MemberStatus volunteer, MemberStatus localGateway = MemberStatus.Up, MemberStatus localWorker = MemberStatus.Up, params Address[] unreachable) =>
        MembershipGuard.RefuseGossip(
            s_volunteer,
            [(s_gateway, gateway), (s_worker, worker), (s_volunteer, volunteer)],
            new Dictionary<Address, MemberStatus> { [s_gateway] = localGateway, [s_worker] = localWorker, [s_volunteer] = MemberStatus.Up },
            unreachable.ToHashSet());

    [Fact]
    public void Gossip_that_downs_or_removes_another_member_is_refused()
    {
        Assert.Contains($"marks {s_gateway} Down (here: Up)", Refuse(MemberStatus.Down, MemberStatus.Up, MemberStatus.Up));
        Assert.Contains("Leaving", Refuse(MemberStatus.Up, MemberStatus.Leaving, MemberStatus.Up));
        Assert.Contains("Exiting", Refuse(MemberStatus.Exiting, MemberStatus.Up, MemberStatus.Up));
    }

    [Fact]
    public void Gossip_that_agrees_with_this_node_or_concerns_the_volunteer_itself_passes()
    {
        Assert.Null(Refuse(MemberStatus.Up, MemberStatus.Up, MemberStatus.Up));
        Assert.Null(Refuse(MemberStatus.Up, MemberStatus.Up, MemberStatus.Leaving));
        Assert.Null(Refuse(MemberStatus.Up, MemberStatus.Up, MemberStatus.Down));
        Assert.Null(Refuse(MemberStatus.Up, MemberStatus.Down, MemberStatus.Up, localWorker: MemberStatus.Down));

        // Behind this node's view (a volunteer that has not yet heard of a promotion) is no harm.
        Assert.Null(Refuse(MemberStatus.Joining, MemberStatus.WeaklyUp, MemberStatus.Up));
    }

    [Fact]
    public void A_volunteer_may_relay_the_exit_of_a_member_that_is_leaving_and_the_down_of_one_this_node_finds_unreachable()
    {
        Assert.Null(Refuse(MemberStatus.Up, MemberStatus.Exiting, MemberStatus.Up, localWorker: MemberStatus.Leaving));
        Assert.Null(Refuse(MemberStatus.Up, MemberStatus.Down, MemberStatus.Up, unreachable: s_worker));
        Assert.NotNull(Refuse(MemberStatus.Down, MemberStatus.Up, MemberStatus.Up, unreachable: s_worker));
    }

    [Theory]
    [InlineData("Akka.Cluster.ClusterUserAction+Down", true)]
    [InlineData("Akka.Cluster.ClusterUserAction+Leave", true)]
    [InlineData("Akka.Cluster.ClusterUserAction+JoinTo", true)]
    [InlineData("Akka.Cluster.InternalClusterAction+Join", false)]
    [InlineData("Akka.Cluster.GossipStatus", false)]
    public void Cluster_user_actions_from_a_volunteer_are_refused(string type, bool refused) =>
        Assert.Equal(refused, MembershipGuard.RefuseMessage(type) is not null);

    [Theory]
    [InlineData("127.0.0.1:50312", "127.0.0.1:50312")]
    [InlineData("[::ffff:127.0.0.1]:50312", "127.0.0.1:50312")]
    [InlineData("akka.ssl.tcp://actorllm@10.0.0.2:4050", "10.0.0.2:4050")]
    [InlineData("ssl.tcp://actorllm@10.0.0.2:4050", "10.0.0.2:4050")]
    [InlineData("unknown", null)]
    public void A_peer_is_keyed_by_host_and_port_whether_the_transport_names_an_end_point_or_an_address(string peer, string? key) =>
        Assert.Equal(key, PeerDirectory.Key(peer));
}

/// <summary>The guard reads what volunteers send: the wire envelope reader finds Akka's fields and never throws on garbage.</summary>
public sealed class SecurityWireEnvelopeTests
{
    private static byte[] Field(int number, byte[] value)
    {
        using var ms = new MemoryStream();
        using (var o = new Google.Protobuf.CodedOutputStream(ms, leaveOpen: true))
        {
            o.WriteTag(number, Google.Protobuf.WireFormat.WireType.LengthDelimited);
            o.WriteBytes(Google.Protobuf.ByteString.CopyFrom(value));
        }

        return ms.ToArray();
    }

    private static byte[] Varint(int number, int value)
    {
        using var ms = new MemoryStream();
        using (var o = new Google.Protobuf.CodedOutputStream(ms, leaveOpen: true))
        {
            o.WriteTag(number, Google.Protobuf.WireFormat.WireType.Varint);
            o.WriteInt32(value);
        }

        return ms.ToArray();
    }

    private static byte[] Utf8(string s) => System.Text.Encoding.UTF8.GetBytes(s);

    [Fact]
    public void The_recipient_serializer_manifest_and_message_of_an_akka_pdu_are_found()
    {
        byte[] message = [1, 2, 3, 4];
        byte[] payload = [.. Field(1, message), .. Varint(2, 5), .. Field(3, Utf8("GE"))];
        byte[] remote = [.. Field(1, Field(1, Utf8("akka.ssl.tcp://actorllm@127.0.0.1:1/system/cluster/core/daemon#42"))), .. Field(2, payload), 0x29, 1, 0, 0, 0, 0, 0, 0, 0];
        byte[] container = [.. Field(1, [9, 1]), .. Field(2, remote)];
        byte[] pdu = Field(1, container);

        Assert.True(WireEnvelope.TryRead(pdu, out var e));
        Assert.Equal("akka.ssl.tcp://actorllm@127.0.0.1:1/system/cluster/core/daemon#42", e.Recipient);
        Assert.Equal((5, "GE"), (e.SerializerId, e.Manifest));
        Assert.Equal(message, pdu[e.Message]);
    }

    /// <summary>An ASSOCIATE control PDU as Akka writes it (WireFormats.proto), with a uid (fixed64) and a cookie.</summary>
    private static byte[] Associate(string host, int port, int command = 1)
    {
        byte[] address = [.. Field(1, Utf8("actorllm")), .. Field(2, Utf8(host)), .. Varint(3, port), .. Field(4, Utf8("akka.ssl.tcp"))];
        byte[] info = [.. Field(1, address), 0x11, 7, 6, 5, 4, 3, 2, 1, 0, .. Field(3, Utf8("cookie"))];
        byte[] control = [.. Varint(1, command), .. Field(2, info)];
        return Field(2, control);
    }

    [Fact]
    public void The_origin_of_an_association_handshake_is_found_and_other_pdus_have_none()
    {
        Assert.True(WireEnvelope.TryReadHandshakeOrigin(Associate("10.0.0.2", 4051), out string host, out int port));
        Assert.Equal(("10.0.0.2", 4051), (host, port));
        Assert.False(WireEnvelope.TryReadHandshakeOrigin(Associate("10.0.0.2", 4051, command: 3), out _, out _));  // a heartbeat
        Assert.False(WireEnvelope.TryReadHandshakeOrigin(Associate("10.0.0.2", 0), out _, out _));
        Assert.False(WireEnvelope.TryReadHandshakeOrigin(Field(1, Field(2, Field(2, Field(1, [1, 2, 3])))), out _, out _));  // a message
        var pdu = Associate("10.0.0.2", 4051);
        for (int cut = 0; cut < pdu.Length; cut++)
        {
            Assert.False(WireEnvelope.TryReadHandshakeOrigin(pdu.AsSpan(0, cut), out _, out _));
        }
    }

    [Fact]
    public void A_peer_that_dialled_in_is_found_by_the_address_it_listens_at_only_on_its_own_host_and_first_claim_wins()
    {
        var peers = new PeerDirectory();
        var worker = new PeerIdentity("worker", false, "p1", "AA", DateTimeOffset.UtcNow.AddDays(1));
        var liar = new PeerIdentity("liar", true, "p1", "BB", DateTimeOffset.UtcNow.AddDays(1));
        peers.Record("[::ffff:10.0.0.2]:50312", worker);
        peers.RecordOrigin("::ffff:10.0.0.2", "10.0.0.2", 4051, worker);
        peers.RecordOrigin("10.0.0.9", "10.0.0.1", 4050, liar);       // another host's address: not believed
        peers.RecordOrigin("10.0.0.2", "10.0.0.2", 4051, liar);       // already claimed
        Assert.Equal(worker, peers.AtAddress("10.0.0.2", 4051));
        Assert.Null(peers.AtAddress("10.0.0.1", 4050));
        Assert.Equal(worker, peers.AtAddress("10.0.0.2", 50312));
    }

    [Fact]
    public void Random_bytes_and_truncated_pdus_are_not_an_envelope_and_never_throw()
    {
        var random = new Random(13);
        for (int n = 0; n < 10_000; n++)
        {
            var bytes = new byte[random.Next(0, 300)];
            random.NextBytes(bytes);
            _ = WireEnvelope.TryRead(bytes, out _);
            _ = WireEnvelope.TryReadHandshakeOrigin(bytes, out _, out _);
        }

        byte[] pdu = Field(1, Field(2, Field(2, Field(1, [1, 2, 3]))));
        for (int cut = 0; cut < pdu.Length; cut++)
        {
            Assert.False(WireEnvelope.TryRead(pdu.AsSpan(0, cut), out _));
        }

        Assert.True(WireEnvelope.TryRead(pdu, out _));
    }
}
