using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;

namespace ActorLlm.Cluster.Security;

/// <summary>
/// A node's credentials, as stored in its credential directory (actorllm.pool.credentials, default
/// $HOME/.actorllm/pool; a pool directory made by `pool init` is one too, for its first gateway):
/// ca.crt (the pool CA, PEM), node.crt (this node's certificate, PEM), node.key (its private key, PEM PKCS#8, mode
/// 0600, made on this machine and never sent anywhere), and pool.json (where the pool was joined: its id, the
/// join URL and the gateway's cluster address, so a node that has joined starts without --join or --seeds).
/// </summary>
public sealed class PoolCredentials : IDisposable
{
    public const string CaFile = "ca.crt";
    public const string CertificateFile = "node.crt";
    public const string KeyFile = "node.key";
    public const string InfoFile = "pool.json";

    private PoolCredentials(string directory, X509Certificate2 ca, X509Certificate2 certificate, PoolIdentity identity, PoolInfo? info)
    {
        Directory = directory;
        Ca = ca;
        Certificate = certificate;
        Identity = identity;
        Info = info;
    }

    public string Directory { get; }

    /// <summary>The pool CA's certificate (no private key): the one trust anchor for peers' certificates.</summary>
    public X509Certificate2 Ca { get; }

    /// <summary>This node's certificate, with its private key (for TLS, client and server).</summary>
    public X509Certificate2 Certificate { get; }

    public PoolIdentity Identity { get; }

    public PoolInfo? Info { get; }

    /// <summary>The default credential directory: $HOME/.actorllm/pool.</summary>
    public static string DefaultDirectory => Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".actorllm", "pool");

    /// <summary>Whether <paramref name="directory"/> holds a node certificate (it may still be invalid: <see cref="Load"/> says).</summary>
    public static bool Exist(string directory) => File.Exists(Path.Combine(directory, CertificateFile));

    /// <summary>
    /// Loads and checks the credentials: the files exist, the key matches the certificate, the certificate is a pool
    /// certificate signed by ca.crt, and node.key is not readable by others. Expiry is not refused here (a node
    /// whose certificate expired is told so by its peers; <see cref="PoolCertificates.Check"/>).
    /// </summary>
    public static PoolCredentials Load(string directory)
    {
        string Need(string file)
        {
            string path = Path.Combine(directory, file);
            return File.Exists(path) ? path : throw new IOException($"{path} is missing: join the pool first (actorllm node --join https://GATEWAY:PORT --token TOKEN)");
        }

        string caPath = Need(CaFile), certPath = Need(CertificateFile), keyPath = Need(KeyFile);
        if (SecureFiles.IsExposed(keyPath))
        {
            throw new IOException($"{keyPath} is readable by other users: chmod 600 {keyPath}");
        }

        X509Certificate2 ca, certificate;
        try
        {
            ca = X509Certificate2.CreateFromPem(File.ReadAllText(caPath));
            certificate = X509Certificate2.CreateFromPemFile(certPath, keyPath);
        }
        catch (Exception e) when (e is CryptographicException or ArgumentException)
        {
            throw new IOException($"the credentials in {directory} cannot be used (is node.key the key of node.crt?): {e.Message}", e);
        }

        var check = PoolCertificates.Check(certificate, ca, new DenyList(), new DateTimeOffset(certificate.NotBefore.ToUniversalTime(), TimeSpan.Zero));
        if (check.Verdict is not (CertificateVerdict.Valid or CertificateVerdict.Expired))
        {
            throw new IOException($"{certPath}: {check.Reason}");
        }

        PoolInfo? info = null;
        string infoPath = Path.Combine(directory, InfoFile);
        if (File.Exists(infoPath))
        {
            try
            {
                info = JsonSerializer.Deserialize(File.ReadAllText(infoPath), PoolJson.Default.PoolInfo);
            }
            catch (JsonException e)
            {
                throw new IOException($"{infoPath} cannot be read: {e.Message}", e);
            }
        }

        return new PoolCredentials(directory, ca, certificate, check.Identity!, info);
    }

    /// <summary>Writes a node's credentials (node.key 0600, in a directory created 0700), replacing older ones atomically file by file.</summary>
    public static void Save(string directory, string caPem, string certificatePem, string keyPem, PoolInfo? info)
    {
        SecureFiles.CreatePrivateDirectory(directory);
        SecureFiles.WriteAtomic(Path.Combine(directory, KeyFile), keyPem, secret: true);
        SecureFiles.WriteAtomic(Path.Combine(directory, CertificateFile), certificatePem, secret: false);
        SecureFiles.WriteAtomic(Path.Combine(directory, CaFile), caPem, secret: false);
        if (info is not null)
        {
            SecureFiles.WriteAtomic(Path.Combine(directory, InfoFile), JsonSerializer.Serialize(info, PoolJson.Default.PoolInfo), secret: false);
        }
    }

    public void Dispose()
    {
        Ca.Dispose();
        Certificate.Dispose();
    }
}

/// <summary>pool.json in a credential directory: which pool, where it was joined, and the gateway to use as seed.</summary>
public sealed record PoolInfo(string PoolId, string JoinUrl, IReadOnlyList<string> Seeds);
