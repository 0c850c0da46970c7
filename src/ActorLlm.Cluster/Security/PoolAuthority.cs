using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using ActorLlm.Inference;

namespace ActorLlm.Cluster.Security;

/// <summary>A join or renewal the pool refuses: <see cref="Status"/> is the HTTP status to answer with (4xx), the message says why.</summary>
public sealed class JoinRefusedException(int status, string message) : Exception(message)
{
    public int Status { get; } = status;
}

/// <summary>An invite as `pool invite` prints it: the token (shown once, never stored) and what was stored.</summary>
public sealed record Invitation(JoinToken Token, InviteRecord Record);

/// <summary>
/// The pool's certificate authority and its admin directory (made by `actorllm pool init DIR`): ca.crt, ca.key
/// (0600), the first gateway's node.crt/node.key (0600) (so the directory is that gateway's credential directory
/// too), tokens.json (invites: hashes only), issued.json (every certificate signed) and revoked.json (the deny
/// list). Every rewrite of a file is atomic and made under the directory's lock.
/// </summary>
public sealed class PoolAuthority : IDisposable
{
    public const string CaKeyFile = "ca.key";
    public const string TokensFile = "tokens.json";
    public const string IssuedFile = "issued.json";
    public const string RevokedFile = "revoked.json";

    /// <summary>The CA certificate's lifetime.</summary>
    public static readonly TimeSpan CaLifetime = TimeSpan.FromDays(3650);

    /// <summary>The first gateway's certificate lifetime (it holds the CA key, so it renews itself: <see cref="RenewOwn"/>).</summary>
    public static readonly TimeSpan GatewayLifetime = TimeSpan.FromDays(365);

    /// <summary>Certificates are valid from a little before they are signed: the clocks of a pool's machines differ.</summary>
    public static readonly TimeSpan ClockSkew = TimeSpan.FromMinutes(5);

    private static readonly TimeSpan s_lockTimeout = TimeSpan.FromSeconds(10);
    private readonly ECDsa _key;

    private PoolAuthority(string directory, X509Certificate2 ca, ECDsa key)
    {
        Directory = directory;
        Ca = ca;
        _key = key;
        PoolId = PoolIdentity.PoolIdOf(ca);
        Fingerprint = PoolIdentity.Fingerprint(ca);
    }

    public string Directory { get; }

    /// <summary>The CA certificate (public part).</summary>
    public X509Certificate2 Ca { get; }

    public string PoolId { get; }

    /// <summary>SHA-256 of the CA certificate, lower-case hex: what join tokens pin.</summary>
    public string Fingerprint { get; }

    public string CaPem => Ca.ExportCertificatePem();

    public string RevokedPath => Path.Combine(Directory, RevokedFile);

    /// <summary>Whether <paramref name="directory"/> already holds a pool (its CA).</summary>
    public static bool IsPool(string directory) =>
        File.Exists(Path.Combine(directory, CaKeyFile)) || File.Exists(Path.Combine(directory, PoolCredentials.CaFile));

    /// <summary>
    /// Creates a pool in <paramref name="directory"/>: a CA (ECDSA P-256, self-signed, <see cref="CaLifetime"/>) and
    /// the first gateway's key and certificate (trusted, role gateway). An existing pool is never overwritten.
    /// </summary>
    public static PoolAuthority Init(string directory, string gatewayName, string? poolId, DateTimeOffset now)
    {
        PoolIdentity.CheckName(gatewayName);
        string id = PoolIdentity.CheckPoolId(poolId ?? Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8)));
        if (IsPool(directory))
        {
            throw new InvalidRequestException($"{directory} already holds a pool (ca.crt/ca.key): refusing to overwrite it; give another directory");
        }

        SecureFiles.CreatePrivateDirectory(directory);
        var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var builder = new X500DistinguishedNameBuilder();
        builder.AddCommonName($"ActorLlm pool {id} CA");
        builder.AddOrganizationName(PoolIdentity.OrganizationPrefix + id);
        var request = new CertificateRequest(builder.Build(), key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(certificateAuthority: true, hasPathLengthConstraint: true, pathLengthConstraint: 0, critical: true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, critical: true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, critical: false));
        using var selfSigned = request.CreateSelfSigned(now - ClockSkew, now + CaLifetime);
        var ca = X509CertificateLoader.LoadCertificate(selfSigned.RawData);

        SecureFiles.WriteNew(Path.Combine(directory, CaKeyFile), key.ExportPkcs8PrivateKeyPem(), secret: true);
        SecureFiles.WriteNew(Path.Combine(directory, PoolCredentials.CaFile), ca.ExportCertificatePem(), secret: false);
        var authority = new PoolAuthority(directory, ca, key);
        using (authority.LockFiles())
        {
            authority.WriteTokens(new TokensFile([]));
            authority.WriteIssued(new IssuedFile([]));
            new DenyList().Save(authority.RevokedPath);
        }

        authority.IssueOwn(gatewayName, [Hosting.ActorLlmRoles.Gateway], now, "pool init");
        return authority;
    }

    /// <summary>Opens the pool in <paramref name="directory"/> (its CA certificate and key).</summary>
    public static PoolAuthority Open(string directory)
    {
        string caPath = Path.Combine(directory, PoolCredentials.CaFile), keyPath = Path.Combine(directory, CaKeyFile);
        if (!File.Exists(caPath) || !File.Exists(keyPath))
        {
            throw new InvalidRequestException($"{directory} is not a pool directory (no ca.crt and ca.key): make one with `actorllm pool init {directory}`");
        }

        if (SecureFiles.IsExposed(keyPath))
        {
            throw new IOException($"{keyPath} is readable by other users: chmod 600 {keyPath}");
        }

        try
        {
            var ca = X509Certificate2.CreateFromPem(File.ReadAllText(caPath));
            var key = ECDsa.Create();
            key.ImportFromPem(File.ReadAllText(keyPath));
            using var pub = ca.GetECDsaPublicKey() ?? throw new CryptographicException("the CA certificate has no ECDSA key");
            if (!pub.ExportSubjectPublicKeyInfo().AsSpan().SequenceEqual(key.ExportSubjectPublicKeyInfo()))
            {
                throw new CryptographicException("ca.key is not the key of ca.crt");
            }

            return new PoolAuthority(directory, ca, key);
        }
        catch (CryptographicException e)
        {
            throw new IOException($"the pool CA in {directory} cannot be used: {e.Message}", e);
        }
    }

    /// <summary>
    /// Signs a certificate for <paramref name="publicKey"/> with the given identity, valid from
    /// <paramref name="now"/> (less <see cref="ClockSkew"/>) for <paramref name="lifetime"/> (capped at the CA's
    /// expiry), with a random 16-byte serial. Usable for TLS as client and server. Recorded in issued.json.
    /// </summary>
    public X509Certificate2 Issue(PublicKey publicKey, string name, TrustLevel trust, IReadOnlyList<string> roles, DateTimeOffset now, TimeSpan lifetime, string how)
    {
        using (LockFiles())
        {
            return IssueLocked(publicKey, name, trust, roles, now, lifetime, how);
        }
    }

    /// <summary>Makes an invite: a fresh token whose hash is stored in tokens.json with the name, roles, trust and expiry.</summary>
    public Invitation Invite(string name, IReadOnlyList<string> roles, TrustLevel trust, TimeSpan expiresIn, TimeSpan certificateLifetime, DateTimeOffset now)
    {
        PoolIdentity.CheckName(name);
        roles = PoolIdentity.CheckRoles(roles);
        if (expiresIn <= TimeSpan.Zero || certificateLifetime <= TimeSpan.Zero)
        {
            throw new InvalidRequestException("an invite's expiry and its certificate's lifetime must be positive");
        }

        if (DenyList.Load(RevokedPath).Find(name, "") is not null)
        {
            throw new InvalidRequestException($"'{name}' is revoked: invite the machine under another name");
        }

        var token = JoinToken.New(Fingerprint);
        var record = new InviteRecord(name, roles, trust, token.Hash, now, now + expiresIn, certificateLifetime, Used: false, UsedAt: null, Serial: null);
        using (LockFiles())
        {
            var tokens = ReadTokens();
            WriteTokens(new TokensFile([.. tokens.Invites, record]));
        }

        return new Invitation(token, record);
    }

    /// <summary>
    /// Admits a node: the token must be this pool's (its fingerprint), known (its hash in tokens.json, compared in
    /// constant time), unused and unexpired, its name not revoked; the CSR's signature must verify and its key be
    /// ECDSA P-256/P-384 or RSA of 2048 bits or more. The certificate gets the invite's name, roles and trust (the
    /// CSR's subject is ignored); the token is marked used before the certificate is returned.
    /// </summary>
    public X509Certificate2 Join(string tokenText, string csrPem, DateTimeOffset now)
    {
        JoinToken token;
        try
        {
            token = JoinToken.Parse(tokenText);
        }
        catch (InvalidRequestException e)
        {
            throw new JoinRefusedException(400, e.Message);
        }

        if (token.Fingerprint != Fingerprint)
        {
            throw new JoinRefusedException(403, "this token is for another pool (its CA fingerprint is not this pool's)");
        }

        var publicKey = ReadRequest(csrPem);
        using (LockFiles())
        {
            var tokens = ReadTokens();
            int index = -1;
            for (int i = 0; i < tokens.Invites.Count; i++)
            {
                // Every stored hash is compared (in constant time), so the time taken does not tell which matched.
                if (token.Matches(tokens.Invites[i].Hash))
                {
                    index = i;
                }
            }

            if (index < 0)
            {
                throw new JoinRefusedException(403, "this token is not an invite of this pool (mistyped, or made for another pool with the same CA?)");
            }

            var invite = tokens.Invites[index];
            if (invite.Used)
            {
                throw new JoinRefusedException(409, $"this invite for '{invite.Name}' was already used at {invite.UsedAt:u}: a token admits one node once; ask for a new invite");
            }

            if (now >= invite.Expires)
            {
                throw new JoinRefusedException(410, $"this invite for '{invite.Name}' expired at {invite.Expires:u}: ask for a new invite");
            }

            if (DenyList.Load(RevokedPath).Find(invite.Name, "") is not null)
            {
                throw new JoinRefusedException(403, $"'{invite.Name}' is revoked");
            }

            var certificate = IssueLocked(publicKey, invite.Name, invite.Trust, invite.Roles, now, invite.CertificateLifetime, "join");
            var invites = tokens.Invites.ToArray();
            invites[index] = invite with { Used = true, UsedAt = now, Serial = certificate.SerialNumber };
            WriteTokens(new TokensFile(invites));
            return certificate;
        }
    }

    /// <summary>
    /// Renews a node's certificate: <paramref name="current"/> (the TLS client certificate) must pass
    /// <see cref="PoolCertificates.Check"/> now (this pool's, unexpired, unrevoked); the new certificate has the same
    /// name, roles, trust and lifetime, for the key of <paramref name="csrPem"/>.
    /// </summary>
    public X509Certificate2 Renew(X509Certificate2? current, string csrPem, DenyList deny, DateTimeOffset now)
    {
        if (current is null)
        {
            throw new JoinRefusedException(401, "renewal needs the node's current certificate as the TLS client certificate");
        }

        var check = PoolCertificates.Check(current, Ca, deny, now);
        if (!check.IsValid)
        {
            throw new JoinRefusedException(403, $"cannot renew: {check.Reason}");
        }

        var publicKey = ReadRequest(csrPem);
        var id = check.Identity!;
        using (LockFiles())
        {
            return IssueLocked(publicKey, id.Name, id.Trust, id.Roles, now, current.NotAfter.ToUniversalTime() - current.NotBefore.ToUniversalTime() - ClockSkew, "renew");
        }
    }

    /// <summary>
    /// Revokes <paramref name="name"/>: the name itself and the serial of every certificate issued to it go on
    /// revoked.json (merged with what is there), each signed by the CA (for <see cref="RevocationGossip"/>). A name the pool never invited is an error. Returns the entries added.
    /// </summary>
    public IReadOnlyList<Revocation> Revoke(string name, DateTimeOffset now)
    {
        PoolIdentity.CheckName(name);
        using (LockFiles())
        {
            var issued = ReadIssued().Issued.Where(c => c.Name == name).ToArray();
            if (issued.Length == 0 && !ReadTokens().Invites.Any(i => i.Name == name))
            {
                throw new InvalidRequestException($"no node named '{name}' was invited to this pool (issued.json and tokens.json do not name it)");
            }

            var deny = DenyList.Load(RevokedPath);
            var added = deny.Merge(new[] { new Revocation(name, null, now) }.Concat(issued.Select(c => new Revocation(name, c.Serial, now))).Select(r => SignedRevocation.Sign(r, _key)));
            deny.Save(RevokedPath);
            return added;
        }
    }

    /// <summary>The gossip element of a revocation: its stored signature, or one made now (<see cref="SignedRevocation"/>).</summary>
    public string SignRevocation(Revocation revocation) =>
        SignedRevocation.Element(revocation.Signature is null ? SignedRevocation.Sign(revocation, _key) : revocation);

    /// <summary>Every certificate this CA signed.</summary>
    public IReadOnlyList<IssuedCertificate> Issued()
    {
        using (LockFiles())
        {
            return ReadIssued().Issued;
        }
    }

    /// <summary>Every invite (hashes only).</summary>
    public IReadOnlyList<InviteRecord> Invites()
    {
        using (LockFiles())
        {
            return ReadTokens().Invites;
        }
    }

    /// <summary>
    /// The first gateway holds the CA key, so it renews its own certificate: when node.crt in this directory
    /// expires within <paramref name="renewBefore"/>, a new key and certificate (same name) replace it. Returns whether it did.
    /// </summary>
    public bool RenewOwn(DateTimeOffset now, TimeSpan renewBefore)
    {
        using var credentials = PoolCredentials.Load(Directory);
        if (credentials.Identity.NotAfter - now > renewBefore)
        {
            return false;
        }

        IssueOwn(credentials.Identity.Name, credentials.Identity.Roles, now, "renew (gateway with the CA key)");
        return true;
    }

    private void IssueOwn(string name, IReadOnlyList<string> roles, DateTimeOffset now, string how)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=" + name, key, HashAlgorithmName.SHA256);
        using var certificate = Issue(request.PublicKey, name, TrustLevel.Trusted, roles, now, GatewayLifetime, how);
        PoolCredentials.Save(Directory, CaPem, certificate.ExportCertificatePem(), key.ExportPkcs8PrivateKeyPem(), info: null);
    }

    /// <summary>Signs and records in issued.json; the caller holds the directory lock.</summary>
    private X509Certificate2 IssueLocked(PublicKey publicKey, string name, TrustLevel trust, IReadOnlyList<string> roles, DateTimeOffset now, TimeSpan lifetime, string how)
    {
        if (lifetime <= TimeSpan.Zero)
        {
            throw new InvalidRequestException($"a certificate's lifetime must be positive, got {lifetime}");
        }

        var request = new CertificateRequest(PoolIdentity.Subject(name, trust, roles, PoolId), publicKey, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, critical: true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyEncipherment, critical: true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1"), new Oid("1.3.6.1.5.5.7.3.2")], critical: false));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, critical: false));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(Ca, includeKeyIdentifier: true, includeIssuerAndSerial: false));
        var san = new SubjectAlternativeNameBuilder();
        san.AddDnsName(name);
        request.CertificateExtensions.Add(san.Build());

        var notBefore = now - ClockSkew;
        var caNotAfter = new DateTimeOffset(Ca.NotAfter.ToUniversalTime(), TimeSpan.Zero);
        var notAfter = now + lifetime < caNotAfter ? now + lifetime : caNotAfter;
        byte[] serial = RandomNumberGenerator.GetBytes(16);
        serial[0] &= 0x7F;  // a positive integer, so its encoding stays 16 bytes
        serial[0] |= 0x01;
        var certificate = request.Create(Ca.SubjectName, X509SignatureGenerator.CreateForECDsa(_key), notBefore, notAfter, serial);
        WriteIssued(new IssuedFile([.. ReadIssued().Issued, new IssuedCertificate(name, certificate.SerialNumber, [.. roles], trust, notBefore, notAfter, how)]));

        return certificate;
    }

    /// <summary>Reads a PEM PKCS#10 request, checking its signature and key; its subject is ignored.</summary>
    public static PublicKey ReadRequest(string csrPem)
    {
        CertificateRequest request;
        try
        {
            request = CertificateRequest.LoadSigningRequestPem(csrPem, HashAlgorithmName.SHA256, CertificateRequestLoadOptions.Default);
        }
        catch (Exception e) when (e is CryptographicException or ArgumentException)
        {
            throw new JoinRefusedException(400, $"the certificate request is not a valid signed PKCS#10 request in PEM: {e.Message}");
        }

        using (var ec = request.PublicKey.GetECDsaPublicKey())
        {
            if (ec is not null)
            {
                return ec.KeySize is 256 or 384 ? request.PublicKey : throw new JoinRefusedException(400, $"an ECDSA key must be P-256 or P-384, got {ec.KeySize} bits");
            }
        }

        using (var rsa = request.PublicKey.GetRSAPublicKey())
        {
            if (rsa is not null)
            {
                return rsa.KeySize >= 2048 ? request.PublicKey : throw new JoinRefusedException(400, $"an RSA key must have at least 2048 bits, got {rsa.KeySize}");
            }
        }

        throw new JoinRefusedException(400, "the certificate request's key must be ECDSA (P-256, P-384) or RSA");
    }

    private IDisposable LockFiles() => SecureFiles.Lock(Directory, s_lockTimeout);

    private TokensFile ReadTokens() => ReadJson(TokensFile, PoolJson.Default.TokensFile) ?? new TokensFile([]);

    private void WriteTokens(TokensFile file) => SecureFiles.WriteAtomic(Path.Combine(Directory, TokensFile), JsonSerializer.Serialize(file, PoolJson.Default.TokensFile), secret: true);

    private IssuedFile ReadIssued() => ReadJson(IssuedFile, PoolJson.Default.IssuedFile) ?? new IssuedFile([]);

    private void WriteIssued(IssuedFile file) => SecureFiles.WriteAtomic(Path.Combine(Directory, IssuedFile), JsonSerializer.Serialize(file, PoolJson.Default.IssuedFile), secret: false);

    private T? ReadJson<T>(string file, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> type)
        where T : class
    {
        string path = Path.Combine(Directory, file);
        if (!File.Exists(path))
        {
            return null;
        }

        try
        {
            return JsonSerializer.Deserialize(File.ReadAllText(path), type);
        }
        catch (JsonException e)
        {
            throw new IOException($"{path} cannot be read: {e.Message}", e);
        }
    }

    public void Dispose()
    {
        Ca.Dispose();
        _key.Dispose();
    }
}
