using System.Text.Json.Serialization;

namespace ActorLlm.Cluster.Security;

/// <summary>One invite in tokens.json: only the token's hash is kept.</summary>
public sealed record InviteRecord(
    string Name,
    IReadOnlyList<string> Roles,
    TrustLevel Trust,
    string Hash,
    DateTimeOffset Created,
    DateTimeOffset Expires,
    TimeSpan CertificateLifetime,
    bool Used,
    DateTimeOffset? UsedAt,
    string? Serial);

/// <summary>tokens.json.</summary>
public sealed record TokensFile(IReadOnlyList<InviteRecord> Invites);

/// <summary>One certificate the pool CA signed (issued.json): what `pool revoke NAME` puts on the deny list.</summary>
public sealed record IssuedCertificate(string Name, string Serial, IReadOnlyList<string> Roles, TrustLevel Trust, DateTimeOffset NotBefore, DateTimeOffset NotAfter, string How);

/// <summary>issued.json.</summary>
public sealed record IssuedFile(IReadOnlyList<IssuedCertificate> Issued);

/// <summary>POST /pool/join: the token and a PKCS#10 certificate request in PEM (its subject is ignored).</summary>
public sealed record JoinRequest(string Token, string Csr);

/// <summary>POST /pool/renew (authenticated by the client certificate): a PKCS#10 request in PEM for the new certificate.</summary>
public sealed record RenewRequest(string Csr);

/// <summary>The answer to a join or renewal: the signed certificate, the CA, and the gateway's cluster address (the seed).</summary>
public sealed record JoinResponse(string Name, string Certificate, string Ca, IReadOnlyList<string> Seeds);

/// <summary>A refused join or renewal.</summary>
public sealed record JoinError(string Error);

[JsonSourceGenerationOptions(WriteIndented = true, PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, UseStringEnumConverter = true, RespectNullableAnnotations = true)]
[JsonSerializable(typeof(TokensFile))]
[JsonSerializable(typeof(IssuedFile))]
[JsonSerializable(typeof(RevokedFile))]
[JsonSerializable(typeof(PoolInfo))]
[JsonSerializable(typeof(JoinRequest))]
[JsonSerializable(typeof(RenewRequest))]
[JsonSerializable(typeof(JoinResponse))]
[JsonSerializable(typeof(JoinError))]
public sealed partial class PoolJson : JsonSerializerContext;
