using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using ActorLlm.Cluster.Security;
using ActorLlm.Inference;
using Xunit;

namespace ActorLlm.Cluster.Tests.Security;

/// <summary>What a certificate's subject says (PoolIdentity) and the join token's format.</summary>
public sealed class PoolIdentitySecurityTests
{
    private static X509Certificate2 SelfSigned(X500DistinguishedName subject)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        return new CertificateRequest(subject, key, HashAlgorithmName.SHA256).CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
    }

    [Theory]
    [InlineData("w-1", TrustLevel.Volunteer, "worker")]
    [InlineData("gpu.box_2", TrustLevel.Trusted, "gateway")]
    [InlineData("both", TrustLevel.Trusted, "worker,gateway")]
    public void An_identity_survives_a_certificate_round_trip(string name, TrustLevel trust, string roles)
    {
        using var certificate = SelfSigned(PoolIdentity.Subject(name, trust, roles.Split(','), "pool-7"));
        var id = PoolIdentity.Parse(certificate);
        Assert.Equal((name, trust, "pool-7", certificate.SerialNumber), (id.Name, id.Trust, id.PoolId, id.Serial));
        Assert.Equal(roles.Split(','), id.Roles);
        Assert.Equal(certificate.NotAfter.ToUniversalTime(), id.NotAfter.UtcDateTime);
    }

    [Theory]
    [InlineData("CN=w1, OU=worker, O=ActorLlm pool p1", "no trust level")]
    [InlineData("CN=w1, OU=trusted, O=ActorLlm pool p1", "no role")]
    [InlineData("CN=w1, OU=trusted, OU=worker, O=Someone else", "not from an ActorLlm pool")]
    [InlineData("CN=w1, OU=trusted, OU=volunteer, OU=worker, O=ActorLlm pool p1", "two trust levels")]
    [InlineData("CN=w1, OU=trusted, OU=admin, O=ActorLlm pool p1", "unexpected name part")]
    [InlineData("CN=W 1, OU=trusted, OU=worker, O=ActorLlm pool p1", "no valid node name")]
    [InlineData("OU=trusted, OU=worker, O=ActorLlm pool p1", "no valid node name")]
    public void A_subject_that_is_not_a_pool_nodes_is_refused_saying_why(string subject, string why)
    {
        using var certificate = SelfSigned(new X500DistinguishedName(subject));
        Assert.Contains(why, Assert.Throws<PoolCertificateException>(() => PoolIdentity.Parse(certificate)).Message);
    }

    [Theory]
    [InlineData("")]
    [InlineData("Upper")]
    [InlineData("a,b")]
    [InlineData("-lead")]
    [InlineData("x=y")]
    public void Bad_names_are_refused_before_anything_is_signed(string name) =>
        Assert.Throws<InvalidRequestException>(() => PoolIdentity.Subject(name, TrustLevel.Trusted, ["worker"], "p1"));

    [Fact]
    public void A_token_round_trips_and_its_hash_matches_only_its_secret()
    {
        var token = JoinToken.New(new string('a', 64));
        var parsed = JoinToken.Parse("  " + token + "\n");
        Assert.Equal(token.Secret, parsed.Secret);
        Assert.Equal(new string('a', 64), parsed.Fingerprint);
        Assert.True(parsed.Matches(token.Hash));
        Assert.False(JoinToken.New(new string('a', 64)).Matches(token.Hash));
        Assert.False(parsed.Matches("not hex"));
        Assert.NotEqual(token.Secret, JoinToken.New(new string('a', 64)).Secret);
    }

    [Theory]
    [InlineData("")]
    [InlineData("alp2_AAAA")]
    [InlineData("alp1_AAAA")]
    [InlineData("alp1_!!!!")]
    public void A_malformed_token_is_refused(string text) => Assert.Throws<InvalidRequestException>(() => JoinToken.Parse(text));
}
