using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace ActorLlm.Testing;

/// <summary>
/// A pool certificate authority for tests, made with <see cref="CertificateRequest"/> directly (ECDSA P-256, as the
/// pool's CA): node certificates with the pool's subject (<c>CN=NAME, OU=TRUST, OU=ROLE, O=ActorLlm pool ID</c>),
/// expired or not yet valid ones, and credentials directories (ca.crt, node.crt, node.key) as a node reads them.
/// </summary>
public sealed class TestPki : IDisposable
{
    private readonly ECDsa _key;

    public TestPki(string poolId = "testpool")
    {
        PoolId = poolId;
        _key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN=ActorLlm pool CA {poolId}, O=ActorLlm pool {poolId}", _key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, true, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        var now = DateTimeOffset.UtcNow;
        Ca = request.CreateSelfSigned(now.AddDays(-1), now.AddYears(10));
    }

    public string PoolId { get; }

    /// <summary>The CA's certificate (with its key).</summary>
    public X509Certificate2 Ca { get; }

    /// <summary>
    /// A node certificate with its private key, valid from <paramref name="notBefore"/> (default: an hour ago) to
    /// <paramref name="notAfter"/> (default: in 30 days), for the pool <paramref name="poolId"/> (default: this CA's).
    /// </summary>
    public X509Certificate2 Issue(
        string name, string trust = "trusted", string role = "worker", DateTimeOffset? notBefore = null, DateTimeOffset? notAfter = null, string? poolId = null)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={name}, OU={trust}, OU={role}, O=ActorLlm pool {poolId ?? PoolId}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(
            [new Oid("1.3.6.1.5.5.7.3.1"), new Oid("1.3.6.1.5.5.7.3.2")], false));
        var now = DateTimeOffset.UtcNow;
        var serial = RandomNumberGenerator.GetBytes(16);
        serial[0] &= 0x7F;
        var from = notBefore ?? now.AddHours(-1);
        var to = notAfter ?? now.AddDays(30);

        // Within the CA's validity (CertificateRequest.Create refuses otherwise).
        using var cert = request.Create(Ca, from < Ca.NotBefore ? Ca.NotBefore : from, to, serial);
        return cert.CopyWithPrivateKey(key);
    }

    /// <summary>Writes ca.crt (this CA), node.crt and node.key (<paramref name="node"/>) into <paramref name="directory"/> (created).</summary>
    public string WriteCredentials(string directory, X509Certificate2 node, X509Certificate2? ca = null)
    {
        Directory.CreateDirectory(directory);
        File.WriteAllText(Path.Combine(directory, "ca.crt"), (ca ?? Ca).ExportCertificatePem());
        File.WriteAllText(Path.Combine(directory, "node.crt"), node.ExportCertificatePem());
        string key = Path.Combine(directory, "node.key");
        File.WriteAllText(key, node.GetECDsaPrivateKey()!.ExportPkcs8PrivateKeyPem());
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(key, UnixFileMode.UserRead | UnixFileMode.UserWrite);   // as `pool init` and `node --join` write it
        }
        return directory;
    }

    /// <summary>Credentials for a new node certificate <paramref name="name"/> in <paramref name="directory"/>.</summary>
    public string Credentials(string directory, string name, string trust = "trusted", string role = "worker")
    {
        using var cert = Issue(name, trust, role);
        return WriteCredentials(directory, cert);
    }

    public void Dispose()
    {
        Ca.Dispose();
        _key.Dispose();
    }
}
