using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using ActorLlm.Cluster.Security;
using ActorLlm.Inference;
using Xunit;

namespace ActorLlm.Cluster.Tests.Security;

/// <summary>The pool CA: creation, signing, joining with tokens (one use, expiry, tampering, another pool), renewal and revocation.</summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class PoolAuthoritySecurityTests : IDisposable
{
    private static readonly DateTimeOffset s_now = new(2026, 12, 1, 12, 0, 0, TimeSpan.Zero);
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    private PoolAuthority NewPool(string sub = "pool", string id = "p1") => PoolAuthority.Init(_dir[sub], "gw", id, s_now);

    private static string Csr(ECDsa key, string subject = "CN=anything") =>
        new CertificateRequest(subject, key, HashAlgorithmName.SHA256).CreateSigningRequestPem();

    [Fact]
    public void Init_makes_a_ca_and_a_trusted_gateway_certificate_with_private_keys_0600_and_refuses_to_overwrite()
    {
        using var pool = NewPool();
        Assert.Equal("p1", pool.PoolId);
        Assert.True(pool.Ca.Extensions.OfType<X509BasicConstraintsExtension>().Single().CertificateAuthority);
        Assert.True(pool.Ca.NotAfter.ToUniversalTime() - s_now.UtcDateTime > TimeSpan.FromDays(3640));

        using var gateway = PoolCredentials.Load(_dir["pool"]);
        Assert.Equal(new PoolIdentity("gw", TrustLevel.Trusted, ["gateway"], "p1", gateway.Certificate.SerialNumber, s_now + PoolAuthority.GatewayLifetime), gateway.Identity);
        Assert.NotEqual(gateway.Identity with { Roles = ["worker"] }, gateway.Identity);
        Assert.True(gateway.Certificate.HasPrivateKey);
        Assert.True(PoolCertificates.Check(gateway.Certificate, pool.Ca, new DenyList(), s_now).IsValid);
        foreach (var secret in new[] { "ca.key", "node.key", "tokens.json" })
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(_dir[Path.Combine("pool", secret)]));
        }

        string before = File.ReadAllText(_dir["pool/ca.key"]);
        Assert.Contains("refusing to overwrite", Assert.Throws<InvalidRequestException>(() => NewPool()).Message);
        Assert.Equal(before, File.ReadAllText(_dir["pool/ca.key"]));
    }

    [Fact]
    public void A_join_signs_the_invites_identity_for_the_requests_key_ignoring_the_requested_subject()
    {
        using var pool = NewPool();
        var invite = pool.Invite("alice-pc", ["worker"], TrustLevel.Volunteer, TimeSpan.FromDays(7), TimeSpan.FromDays(30), s_now);
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var certificate = pool.Join(invite.Token.ToString(), Csr(key, "CN=root, OU=trusted, OU=gateway, O=ActorLlm pool p1"), s_now.AddHours(1));

        var id = PoolIdentity.Parse(certificate);
        Assert.Equal(("alice-pc", TrustLevel.Volunteer, "p1"), (id.Name, id.Trust, id.PoolId));
        Assert.Equal(["worker"], id.Roles);
        Assert.Equal(s_now.AddHours(1).AddDays(30), id.NotAfter);
        Assert.Equal(32, id.Serial.Length);
        using var pub = certificate.GetECDsaPublicKey()!;
        Assert.Equal(key.ExportSubjectPublicKeyInfo(), pub.ExportSubjectPublicKeyInfo());
        Assert.True(PoolCertificates.Check(certificate, pool.Ca, new DenyList(), s_now.AddHours(2)).IsValid);
        Assert.Contains(pool.Issued(), c => c.Name == "alice-pc" && c.Serial == id.Serial);
    }

    [Fact]
    public void Tokens_are_stored_only_as_hashes_and_admit_once()
    {
        using var pool = NewPool();
        var invite = pool.Invite("w1", ["worker"], TrustLevel.Trusted, TimeSpan.FromDays(1), TimeSpan.FromDays(30), s_now);
        string tokens = File.ReadAllText(_dir["pool/tokens.json"]);
        Assert.DoesNotContain(invite.Token.ToString(), tokens, StringComparison.Ordinal);
        Assert.DoesNotContain(Convert.ToHexStringLower(invite.Token.Secret), tokens, StringComparison.Ordinal);
        Assert.Contains(invite.Token.Hash, tokens, StringComparison.Ordinal);

        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var first = pool.Join(invite.Token.ToString(), Csr(key), s_now);
        var again = Assert.Throws<JoinRefusedException>(() => pool.Join(invite.Token.ToString(), Csr(key), s_now));
        Assert.Equal(409, again.Status);
        Assert.Contains("already used", again.Message);

        // Used is persisted: a gateway restarted on the same directory refuses it too.
        using var reopened = PoolAuthority.Open(_dir["pool"]);
        Assert.Equal(409, Assert.Throws<JoinRefusedException>(() => reopened.Join(invite.Token.ToString(), Csr(key), s_now)).Status);
        Assert.Single(reopened.Invites(), i => i.Used && i.Serial == first.SerialNumber);
    }

    [Fact]
    public void Concurrent_joins_with_one_token_admit_exactly_one_and_invites_made_meanwhile_are_kept()
    {
        using var pool = NewPool();
        var invite = pool.Invite("w1", ["worker"], TrustLevel.Volunteer, TimeSpan.FromDays(1), TimeSpan.FromDays(30), s_now);
        using var second = PoolAuthority.Open(_dir["pool"]);  // as `pool invite` in another process: its own handle on the files
        var outcomes = new System.Collections.Concurrent.ConcurrentBag<int>();
        Parallel.For(0, 8, i =>
        {
            if (i % 2 == 1)
            {
                second.Invite($"other-{i}", ["worker"], TrustLevel.Volunteer, TimeSpan.FromDays(1), TimeSpan.FromDays(30), s_now);
            }

            using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
            try
            {
                using var certificate = pool.Join(invite.Token.ToString(), Csr(key), s_now);
                outcomes.Add(200);
            }
            catch (JoinRefusedException e)
            {
                outcomes.Add(e.Status);
            }
        });
        Assert.Equal([200, 409, 409, 409, 409, 409, 409, 409], outcomes.Order());
        Assert.Equal(5, pool.Invites().Count);
        Assert.Equal(2, pool.Issued().Count);  // the gateway's and w1's
    }

    [Fact]
    public void An_expired_token_is_refused_with_410_and_stays_unused()
    {
        using var pool = NewPool();
        var invite = pool.Invite("w1", ["worker"], TrustLevel.Volunteer, TimeSpan.FromHours(1), TimeSpan.FromDays(30), s_now);
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var e = Assert.Throws<JoinRefusedException>(() => pool.Join(invite.Token.ToString(), Csr(key), s_now.AddHours(1)));
        Assert.Equal(410, e.Status);
        Assert.Contains("expired", e.Message);
        Assert.DoesNotContain(pool.Invites(), i => i.Used);
        using var _ = pool.Join(invite.Token.ToString(), Csr(key), s_now.AddMinutes(59));
    }

    [Fact]
    public void A_tampered_token_is_refused_whichever_part_is_changed()
    {
        using var pool = NewPool();
        var invite = pool.Invite("w1", ["worker"], TrustLevel.Volunteer, TimeSpan.FromDays(1), TimeSpan.FromDays(30), s_now);
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);

        byte[] secret = [.. invite.Token.Secret];
        secret[5] ^= 1;
        Assert.Equal(403, Assert.Throws<JoinRefusedException>(() => pool.Join(new JoinToken(secret, invite.Token.CaFingerprint).ToString(), Csr(key), s_now)).Status);

        byte[] fingerprint = [.. invite.Token.CaFingerprint];
        fingerprint[0] ^= 1;
        var other = Assert.Throws<JoinRefusedException>(() => pool.Join(new JoinToken(invite.Token.Secret, fingerprint).ToString(), Csr(key), s_now));
        Assert.Equal(403, other.Status);
        Assert.Contains("another pool", other.Message);

        string text = invite.Token.ToString();
        foreach (var damaged in new[] { text[..^3], "x" + text, text.Replace('_', '!') })
        {
            Assert.Equal(400, Assert.Throws<JoinRefusedException>(() => pool.Join(damaged, Csr(key), s_now)).Status);
        }

        Assert.DoesNotContain(pool.Invites(), i => i.Used);
    }

    [Fact]
    public void A_token_of_another_pool_is_refused()
    {
        using var pool = NewPool();
        using var other = NewPool("other", "p2");
        var invite = other.Invite("w1", ["worker"], TrustLevel.Volunteer, TimeSpan.FromDays(1), TimeSpan.FromDays(30), s_now);
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        Assert.Contains("another pool", Assert.Throws<JoinRefusedException>(() => pool.Join(invite.Token.ToString(), Csr(key), s_now)).Message);
    }

    [Fact]
    public void A_request_with_a_bad_signature_or_a_weak_key_is_refused_and_the_token_stays_unused()
    {
        using var pool = NewPool();
        var invite = pool.Invite("w1", ["worker"], TrustLevel.Volunteer, TimeSpan.FromDays(1), TimeSpan.FromDays(30), s_now);
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        byte[] der = new CertificateRequest("CN=x", key, HashAlgorithmName.SHA256).CreateSigningRequest();
        der[^5] ^= 0x40;  // inside the signature
        string forged = PemEncoding.WriteString("CERTIFICATE REQUEST", der);
        Assert.Equal(400, Assert.Throws<JoinRefusedException>(() => pool.Join(invite.Token.ToString(), forged, s_now)).Status);
        Assert.Equal(400, Assert.Throws<JoinRefusedException>(() => pool.Join(invite.Token.ToString(), "not a pem", s_now)).Status);
        using var rsa = RSA.Create(1024);
        var weak = new CertificateRequest("CN=x", rsa, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1).CreateSigningRequestPem();
        Assert.Contains("2048", Assert.Throws<JoinRefusedException>(() => pool.Join(invite.Token.ToString(), weak, s_now)).Message);
        Assert.DoesNotContain(pool.Invites(), i => i.Used);
    }

    [Fact]
    public void Another_cas_certificate_an_expired_one_and_a_revoked_one_are_refused_with_their_reason()
    {
        using var pool = NewPool();
        using var other = NewPool("other", "p1");  // same pool id, another CA key: only the signature tells
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var mine = pool.Issue(new CertificateRequest("CN=x", key, HashAlgorithmName.SHA256).PublicKey, "w1", TrustLevel.Volunteer, ["worker"], s_now, TimeSpan.FromDays(30), "test");
        using var theirs = other.Issue(new CertificateRequest("CN=x", key, HashAlgorithmName.SHA256).PublicKey, "w1", TrustLevel.Volunteer, ["worker"], s_now, TimeSpan.FromDays(30), "test");
        var deny = new DenyList();

        Assert.Equal(CertificateVerdict.Valid, PoolCertificates.Check(mine, pool.Ca, deny, s_now).Verdict);
        Assert.Equal(CertificateVerdict.NotSignedByPoolCa, PoolCertificates.Check(theirs, pool.Ca, deny, s_now).Verdict);
        Assert.Equal(CertificateVerdict.Expired, PoolCertificates.Check(mine, pool.Ca, deny, s_now.AddDays(31)).Verdict);
        Assert.Equal(CertificateVerdict.NotYetValid, PoolCertificates.Check(mine, pool.Ca, deny, s_now.AddHours(-1)).Verdict);
        Assert.Equal(CertificateVerdict.NotAPoolCertificate, PoolCertificates.Check(pool.Ca, pool.Ca, deny, s_now).Verdict);

        using var p2 = NewPool("p2", "p2");
        using var foreign = p2.Issue(new CertificateRequest("CN=x", key, HashAlgorithmName.SHA256).PublicKey, "w1", TrustLevel.Volunteer, ["worker"], s_now, TimeSpan.FromDays(30), "test");
        Assert.Equal(CertificateVerdict.OtherPool, PoolCertificates.Check(foreign, pool.Ca, deny, s_now).Verdict);

        deny.Merge([new Revocation("w1", mine.SerialNumber, s_now)]);
        var revoked = PoolCertificates.Check(mine, pool.Ca, deny, s_now);
        Assert.Equal(CertificateVerdict.Revoked, revoked.Verdict);
        Assert.Contains("revoked", revoked.Reason);
    }

    [Fact]
    public void Revoke_lists_the_name_and_every_certificate_issued_to_it_and_a_revoked_name_cannot_join_or_be_invited()
    {
        using var pool = NewPool();
        var first = pool.Invite("w1", ["worker"], TrustLevel.Volunteer, TimeSpan.FromDays(1), TimeSpan.FromDays(30), s_now);
        var second = pool.Invite("w1", ["worker"], TrustLevel.Volunteer, TimeSpan.FromDays(1), TimeSpan.FromDays(30), s_now);
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var cert = pool.Join(first.Token.ToString(), Csr(key), s_now);

        var added = pool.Revoke("w1", s_now);
        Assert.Equal([null, cert.SerialNumber], added.Select(a => a.Serial));
        Assert.Empty(pool.Revoke("w1", s_now.AddMinutes(1)));
        var deny = DenyList.Load(pool.RevokedPath);
        Assert.True(deny.IsRevoked(PoolIdentity.Parse(cert)));

        Assert.Equal(403, Assert.Throws<JoinRefusedException>(() => pool.Join(second.Token.ToString(), Csr(key), s_now)).Status);
        Assert.Contains("revoked", Assert.Throws<InvalidRequestException>(() => pool.Invite("w1", ["worker"], TrustLevel.Volunteer, TimeSpan.FromDays(1), TimeSpan.FromDays(30), s_now)).Message);
        Assert.Contains("no node named", Assert.Throws<InvalidRequestException>(() => pool.Revoke("nobody", s_now)).Message);
    }

    [Fact]
    public void Revocations_are_signed_by_the_ca_and_only_the_pools_ca_signature_on_the_unchanged_entry_verifies()
    {
        using var pool = NewPool();
        using var other = NewPool("other", "p1");
        pool.Invite("w1", ["worker"], TrustLevel.Volunteer, TimeSpan.FromDays(1), TimeSpan.FromDays(30), s_now);
        var entry = Assert.Single(pool.Revoke("w1", s_now));
        Assert.NotNull(entry.Signature);
        Assert.Equal(entry, Assert.Single(DenyList.Load(pool.RevokedPath).Entries));

        string element = pool.SignRevocation(entry);
        Assert.Equal(entry, SignedRevocation.Verify(element, pool.Ca));
        Assert.Equal(element, pool.SignRevocation(entry));  // the stored signature: the same element after a restart
        Assert.Null(SignedRevocation.Verify(element, other.Ca));
        Assert.Null(SignedRevocation.Verify(other.SignRevocation(entry with { Signature = null }), pool.Ca));
        Assert.Null(SignedRevocation.Verify(element.Replace("w1|", "gw|", StringComparison.Ordinal), pool.Ca));
        Assert.Null(SignedRevocation.Verify("w1||1|AAAA", pool.Ca));
        Assert.Null(SignedRevocation.Verify("garbage", pool.Ca));
    }

    [Fact]
    public void Renewal_needs_a_valid_current_certificate_and_keeps_name_trust_roles_and_lifetime()
    {
        using var pool = NewPool();
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var current = pool.Issue(new CertificateRequest("CN=x", key, HashAlgorithmName.SHA256).PublicKey, "w1", TrustLevel.Volunteer, ["worker", "gateway"], s_now, TimeSpan.FromDays(30), "test");
        using var newKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var deny = new DenyList();

        using var renewed = pool.Renew(current, Csr(newKey), deny, s_now.AddDays(25));
        var id = PoolIdentity.Parse(renewed);
        Assert.Equal(("w1", TrustLevel.Volunteer), (id.Name, id.Trust));
        Assert.Equal(["worker", "gateway"], id.Roles);
        Assert.Equal(s_now.AddDays(55), id.NotAfter);
        Assert.NotEqual(current.SerialNumber, id.Serial);

        Assert.Equal(401, Assert.Throws<JoinRefusedException>(() => pool.Renew(null, Csr(newKey), deny, s_now)).Status);
        Assert.Contains("expired", Assert.Throws<JoinRefusedException>(() => pool.Renew(current, Csr(newKey), deny, s_now.AddDays(31))).Message);
        deny.Merge([new Revocation("w1", null, s_now)]);
        Assert.Contains("revoked", Assert.Throws<JoinRefusedException>(() => pool.Renew(current, Csr(newKey), deny, s_now.AddDays(1))).Message);
    }

    [Fact]
    public void The_first_gateway_renews_its_own_certificate_when_it_is_due()
    {
        using var pool = NewPool();
        string serial;
        using (var gateway = PoolCredentials.Load(_dir["pool"]))
        {
            serial = gateway.Identity.Serial;
        }

        Assert.False(pool.RenewOwn(s_now.AddDays(300), TimeSpan.FromDays(7)));
        Assert.True(pool.RenewOwn(s_now.AddDays(360), TimeSpan.FromDays(7)));
        using var renewed = PoolCredentials.Load(_dir["pool"]);
        Assert.NotEqual(serial, renewed.Identity.Serial);
        Assert.Equal("gw", renewed.Identity.Name);
        Assert.Equal(s_now.AddDays(725), renewed.Identity.NotAfter);
    }

    [Fact]
    public void Credentials_are_refused_when_the_key_is_readable_by_others_or_of_another_certificate()
    {
        using var pool = NewPool();
        File.SetUnixFileMode(_dir["pool/node.key"], UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead);
        Assert.Contains("chmod 600", Assert.Throws<IOException>(() => PoolCredentials.Load(_dir["pool"])).Message);
        File.SetUnixFileMode(_dir["pool/node.key"], UnixFileMode.UserRead | UnixFileMode.UserWrite);

        using var other = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        File.WriteAllText(_dir["pool/node.key"], other.ExportPkcs8PrivateKeyPem());
        Assert.Throws<IOException>(() => PoolCredentials.Load(_dir["pool"]));
        Assert.Contains("missing", Assert.Throws<IOException>(() => PoolCredentials.Load(_dir["nowhere"])).Message);
    }
}
