using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using ActorLlm.Cluster.Security.Tls;
using ActorLlm.Inference;
using Akka.Event;
using Xunit;

namespace ActorLlm.Cluster.Tests.Security;

/// <summary>
/// The TLS layer's one decision (<see cref="PeerCertificates.Check"/>) and its callback (<see cref="PeerValidator"/>):
/// a chain to the pool CA only (no system roots), valid now, for this pool, not a CA, not revoked. Certificates are
/// made here with CertificateRequest (<see cref="TestPki"/>).
/// </summary>
public sealed class SecurityTlsValidatorTests : IDisposable
{
    private readonly TestPki _pki = new("pool1");
    private readonly TestPki _otherCa = new("pool1");
    private static readonly DateTimeOffset s_now = DateTimeOffset.UtcNow;

    private PeerVerdict Check(X509Certificate2? cert, IPeerPolicy? policy = null) =>
        PeerCertificates.Check(cert, _pki.Ca, _pki.PoolId, policy ?? PeerPolicy.None, s_now);

    [Fact]
    public void A_certificate_of_the_pool_CA_is_accepted_and_names_its_holder_and_trust()
    {
        using var cert = _pki.Issue("worker-7", "volunteer");
        var v = Check(cert);
        Assert.True(v.Accepted, v.Refusal);
        Assert.Equal(new PeerIdentity("worker-7", true, "pool1", cert.SerialNumber.ToUpperInvariant(), cert.NotAfter.ToUniversalTime()), v.Peer);

        using var trusted = _pki.Issue("gw", "trusted", "gateway");
        Assert.False(Check(trusted).Peer!.Volunteer);
    }

    [Fact]
    public void No_certificate_is_refused()
    {
        Assert.Contains("no certificate", Check(null).Refusal);
    }

    [Fact]
    public void A_certificate_of_another_CA_is_refused_even_with_the_same_pool_name_and_subject()
    {
        using var cert = _otherCa.Issue("worker-1");
        var v = Check(cert);
        Assert.False(v.Accepted);
        Assert.Contains("not signed by this pool's CA", v.Refusal);
    }

    [Fact]
    public void A_self_signed_certificate_that_copies_the_CA_subject_is_refused()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(_pki.Ca.SubjectName, key, HashAlgorithmName.SHA256);
        using var forged = request.CreateSelfSigned(s_now.AddDays(-1), s_now.AddDays(1));
        Assert.False(Check(forged).Accepted);
    }

    [Fact]
    public void The_CA_certificate_itself_is_not_a_node_certificate()
    {
        Assert.Contains("CA certificate", Check(_pki.Ca).Refusal);
    }

    [Fact]
    public void An_expired_or_not_yet_valid_certificate_is_refused()
    {
        using var expired = _pki.Issue("old", notBefore: s_now.AddDays(-10), notAfter: s_now.AddMinutes(-1));
        Assert.Contains("expired at", Check(expired).Refusal);
        using var early = _pki.Issue("early", notBefore: s_now.AddHours(1), notAfter: s_now.AddDays(1));
        Assert.Contains("not valid before", Check(early).Refusal);
    }

    [Fact]
    public void A_certificate_for_another_pool_signed_by_this_CA_is_refused()
    {
        using var cert = _pki.Issue("worker-1", poolId: "pool2");
        Assert.Contains("for pool 'pool2', not this pool 'pool1'", Check(cert).Refusal);
    }

    [Fact]
    public void A_certificate_without_a_trust_level_is_refused()
    {
        using var cert = _pki.Issue("worker-1", trust: "maybe");
        Assert.Contains("no trust level", Check(cert).Refusal);
    }

    [Fact]
    public void The_policy_refuses_a_revoked_peer_by_name_or_serial_and_only_after_the_chain_check()
    {
        using var cert = _pki.Issue("worker-9");
        string serial = cert.SerialNumber.ToUpperInvariant();
        var byName = PeerPolicy.From(p => p.Name == "worker-9" ? "revoked by name" : null);
        var bySerial = PeerPolicy.From(p => p.Serial == serial ? "revoked by serial" : null);
        Assert.Contains("is revoked: revoked by name", Check(cert, byName).Refusal);
        Assert.Contains("is revoked: revoked by serial", Check(cert, bySerial).Refusal);

        using var other = _pki.Issue("worker-10");
        Assert.True(Check(other, byName).Accepted);

        // A certificate of another CA is refused for its chain; the policy is never asked.
        bool asked = false;
        using var foreign = _otherCa.Issue("worker-9");
        Assert.Contains("not signed", Check(foreign, PeerPolicy.From(_ => { asked = true; return null; })).Refusal);
        Assert.False(asked);
    }

    [Fact]
    public void The_validator_ignores_the_system_verdict_records_accepted_peers_and_counts_refusals()
    {
        var validator = new PeerValidator(_pki.Ca, _pki.PoolId, PeerPolicy.None);
        using var good = _pki.Issue("worker-1", "volunteer");
        using var bad = _otherCa.Issue("worker-2");

        // The system chain check fails for a private CA (RemoteCertificateChainErrors): the validator decides alone.
        Assert.True(validator.Validate(good, null, "127.0.0.1:50000", System.Net.Security.SslPolicyErrors.RemoteCertificateChainErrors, NoLogger.Instance));
        Assert.Equal("worker-1", validator.Peers.Find("127.0.0.1:50000")!.Name);
        Assert.False(validator.Validate(bad, null, "127.0.0.1:50001", System.Net.Security.SslPolicyErrors.None, NoLogger.Instance));
        Assert.False(validator.Validate(null, null, "127.0.0.1:50002", System.Net.Security.SslPolicyErrors.RemoteCertificateNotAvailable, NoLogger.Instance));
        Assert.Equal(2, validator.Refusals);
        Assert.Null(validator.Peers.Find("127.0.0.1:50001"));
    }

    [Fact]
    public void A_refusal_is_logged_once_per_peer_host_and_reason_whatever_the_source_port()
    {
        var validator = new PeerValidator(_pki.Ca, _pki.PoolId, PeerPolicy.None);
        Assert.True(validator.ShouldLog("127.0.0.1:50000", "expired"));
        Assert.False(validator.ShouldLog("127.0.0.1:50001", "expired"));
        Assert.False(validator.ShouldLog("[::ffff:127.0.0.1]:50002", "expired"));
        Assert.True(validator.ShouldLog("127.0.0.1:50003", "another reason"));
        Assert.True(validator.ShouldLog("127.0.0.2:50000", "expired"));
        Assert.True(validator.ShouldLog("akka.ssl.tcp://actorllm@10.0.0.2:4050", "expired"));
        Assert.False(validator.ShouldLog("akka.ssl.tcp://actorllm@10.0.0.2:4050", "expired"));
    }

    [Theory]
    [InlineData("127.0.0.1:50000", "127.0.0.1")]
    [InlineData("[::ffff:10.0.0.3]:1234", "10.0.0.3")]
    [InlineData("[fe80::1]:1234", "fe80::1")]
    [InlineData("akka.ssl.tcp://actorllm@10.0.0.2:4050", "akka.ssl.tcp://actorllm@10.0.0.2:4050")]
    [InlineData("unknown", "unknown")]
    public void The_host_of_a_peer_drops_the_changing_port(string peer, string host) =>
        Assert.Equal(host, PeerValidator.HostOf(peer));

    [Fact]
    public void Credentials_load_from_a_directory_and_a_missing_one_says_how_to_get_them()
    {
        using var dir = new TempDir();
        var e = Assert.Throws<InvalidRequestException>(() => TlsCredentials.Load(dir["none"], s_now));
        Assert.Contains("lacks ca.crt, node.crt, node.key", e.Message);
        Assert.Contains("actorllm node --join https://GATEWAY:PORT --token TOKEN", e.Message);
        Assert.Contains("actorllm pool init", e.Message);
        Assert.Contains("--tls off", e.Message);

        using var creds = TlsCredentials.Load(_pki.Credentials(dir["good"], "gw", "trusted", "gateway"), s_now);
        Assert.Equal(("gw", false, "pool1"), (creds.Identity.Name, creds.Identity.Volunteer, creds.Identity.PoolId));
        Assert.True(creds.Certificate.HasPrivateKey);
    }

    [Fact]
    public void A_node_whose_own_certificate_its_peers_would_refuse_does_not_start()
    {
        using var dir = new TempDir();
        using var expired = _pki.Issue("old", notBefore: s_now.AddDays(-10), notAfter: s_now.AddMinutes(-1));
        Assert.Contains("expired", Assert.Throws<InvalidRequestException>(() => TlsCredentials.Load(_pki.WriteCredentials(dir["expired"], expired), s_now)).Message);

        // node.crt of one CA with ca.crt of another.
        using var foreign = _otherCa.Issue("w");
        Assert.Contains("not signed by this pool's CA", Assert.Throws<InvalidRequestException>(() => TlsCredentials.Load(_pki.WriteCredentials(dir["mixed"], foreign), s_now)).Message);
    }

    public void Dispose()
    {
        _pki.Dispose();
        _otherCa.Dispose();
    }
}
