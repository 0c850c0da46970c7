using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using ActorLlm.Inference;

namespace ActorLlm.Cluster.Security.Tls;

/// <summary>
/// A node's credentials for mutual TLS, read from its credentials directory: <see cref="CaFile"/> (the pool CA),
/// <see cref="CertificateFile"/> (this node's certificate) and <see cref="KeyFile"/> (its private key, PKCS#8 PEM).
/// </summary>
public sealed class TlsCredentials : IDisposable
{
    public const string CaFile = "ca.crt";
    public const string CertificateFile = "node.crt";
    public const string KeyFile = "node.key";

    private TlsCredentials(X509Certificate2 ca, X509Certificate2 certificate, PeerIdentity identity)
    {
        Ca = ca;
        Certificate = certificate;
        Identity = identity;
    }

    /// <summary>The pool CA: the one trust anchor of every peer's chain.</summary>
    public X509Certificate2 Ca { get; }

    /// <summary>This node's certificate, with its private key.</summary>
    public X509Certificate2 Certificate { get; }

    /// <summary>Who this node's certificate says it is (its pool id is the one every peer must have).</summary>
    public PeerIdentity Identity { get; }

    /// <summary>
    /// Reads the credentials in <paramref name="directory"/>; a missing file, a certificate that is not this pool's or
    /// has expired is refused with a message that says how to get good ones.
    /// </summary>
    public static TlsCredentials Load(string directory, DateTimeOffset now)
    {
        string How =
            $"join a pool first (`actorllm node --join https://GATEWAY:PORT --token TOKEN`, with a token from `actorllm pool invite NAME` on the gateway), "
            + $"or create one (`actorllm pool init DIR`, then --credentials DIR); for a local pool nobody else can reach, --tls off";
        string[] missing = [.. new[] { CaFile, CertificateFile, KeyFile }.Where(f => !File.Exists(Path.Combine(directory, f)))];
        if (missing.Length > 0)
        {
            throw new InvalidRequestException(
                $"TLS is on (actorllm.tls.enabled) but the credentials directory {directory} lacks {string.Join(", ", missing)}: {How}");
        }

        X509Certificate2 ca, certificate;
        try
        {
            ca = X509CertificateLoader.LoadCertificate(PemBytes(Path.Combine(directory, CaFile)));
            using var pem = X509Certificate2.CreateFromPemFile(Path.Combine(directory, CertificateFile), Path.Combine(directory, KeyFile));

            // A PEM key is ephemeral; a PKCS#12 round trip gives the certificate a key SslStream can use on every platform.
            certificate = X509CertificateLoader.LoadPkcs12(pem.Export(X509ContentType.Pkcs12), null);
        }
        catch (Exception e) when (e is CryptographicException or IOException or ArgumentException)
        {
            throw new InvalidRequestException($"the credentials in {directory} cannot be read ({e.Message}): {How}");
        }

        string poolId = PeerCertificates.PoolIdOf(ca) ?? PeerIdentity.TryParse(certificate, out _)?.PoolId ?? "";
        var verdict = PeerCertificates.Check(certificate, ca, poolId, PeerPolicy.None, now);
        if (!verdict.Accepted || verdict.Peer is null)
        {
            certificate.Dispose();
            ca.Dispose();
            throw new InvalidRequestException($"this node's own {CertificateFile} in {directory} would be refused by its peers: {verdict.Refusal}; {How}");
        }

        return new TlsCredentials(ca, certificate, verdict.Peer);
    }

    /// <summary>
    /// Credentials from certificates already in memory, unchecked (a test gives a node an expired or foreign
    /// certificate this way, to see its peers refuse it). <paramref name="certificate"/> must carry its private key.
    /// </summary>
    public static TlsCredentials FromCertificates(X509Certificate2 ca, X509Certificate2 certificate) =>
        new(ca, certificate, PeerIdentity.TryParse(certificate, out _)
            ?? new PeerIdentity(certificate.Subject, false, PeerCertificates.PoolIdOf(ca) ?? "", certificate.SerialNumber, certificate.NotAfter));

    private static byte[] PemBytes(string path)
    {
        string text = File.ReadAllText(path);
        return Convert.FromBase64String(text[PemEncoding.Find(text).Base64Data]);
    }

    public void Dispose()
    {
        Certificate.Dispose();
        Ca.Dispose();
    }
}
