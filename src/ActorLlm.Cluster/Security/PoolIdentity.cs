using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.RegularExpressions;
using ActorLlm.Inference;

namespace ActorLlm.Cluster.Security;

/// <summary>How far the pool trusts what a node computes (the certificate's trust OU).</summary>
public enum TrustLevel
{
    /// <summary>A machine the pool's owner runs.</summary>
    Trusted,

    /// <summary>A machine someone else runs: invited, but its outputs are checked.</summary>
    Volunteer,
}

/// <summary>
/// Who a pool certificate says its holder is. The subject is
/// <c>CN=NAME, OU=TRUST, OU=ROLE[, OU=ROLE], O=ActorLlm pool POOLID</c>: the OUs are told apart by value (trust:
/// trusted|volunteer; role: worker|gateway, one OU per role), so their order does not matter. The expiry is the
/// certificate's NotAfter; the serial is 16 random bytes (hex, upper case, as <see cref="X509Certificate2.SerialNumber"/>).
/// </summary>
public sealed partial record PoolIdentity(string Name, TrustLevel Trust, IReadOnlyList<string> Roles, string PoolId, string Serial, DateTimeOffset NotAfter)
{
    /// <summary>The organisation of every certificate of a pool: "ActorLlm pool " + the pool id.</summary>
    public const string OrganizationPrefix = "ActorLlm pool ";

    /// <summary>The roles a certificate may carry (the cluster roles of <see cref="Hosting.ActorLlmRoles"/>).</summary>
    public static readonly IReadOnlyList<string> KnownRoles = [Hosting.ActorLlmRoles.Worker, Hosting.ActorLlmRoles.Gateway];

    private const string CommonNameOid = "2.5.4.3";
    private const string OrganizationalUnitOid = "2.5.4.11";
    private const string OrganizationOid = "2.5.4.10";

    public bool IsGateway => Roles.Contains(Hosting.ActorLlmRoles.Gateway);

    /// <summary>Equal when every field is, the roles compared as a sequence (a record would compare the list's reference).</summary>
    public bool Equals(PoolIdentity? other) =>
        other is not null && Name == other.Name && Trust == other.Trust && Roles.SequenceEqual(other.Roles) && PoolId == other.PoolId && Serial == other.Serial && NotAfter == other.NotAfter;

    public override int GetHashCode() => HashCode.Combine(Name, Trust, string.Join(",", Roles), PoolId, Serial, NotAfter);

    public bool IsWorker => Roles.Contains(Hosting.ActorLlmRoles.Worker);

    /// <summary>The subject a certificate for this identity carries (<see cref="Parse"/> reads it back).</summary>
    public static X500DistinguishedName Subject(string name, TrustLevel trust, IReadOnlyList<string> roles, string poolId)
    {
        var builder = new X500DistinguishedNameBuilder();
        builder.AddCommonName(CheckName(name));
        builder.AddOrganizationalUnitName(TrustText(trust));
        foreach (var role in CheckRoles(roles))
        {
            builder.AddOrganizationalUnitName(role);
        }

        builder.AddOrganizationName(OrganizationPrefix + CheckPoolId(poolId));
        return builder.Build();
    }

    /// <summary>Reads a pool certificate's identity; a certificate that is not a pool node's is refused, saying why.</summary>
    public static PoolIdentity Parse(X509Certificate2 certificate)
    {
        string? name = null, org = null;
        TrustLevel? trust = null;
        var roles = new List<string>();
        foreach (var rdn in certificate.SubjectName.EnumerateRelativeDistinguishedNames())
        {
            if (rdn.HasMultipleElements)
            {
                throw new PoolCertificateException($"certificate '{certificate.Subject}' has a multi-valued name part: not a pool certificate");
            }

            string value = rdn.GetSingleElementValue() ?? "";
            switch (rdn.GetSingleElementType().Value)
            {
                case CommonNameOid when name is null:
                    name = value;
                    break;
                case OrganizationOid when org is null:
                    org = value;
                    break;
                case OrganizationalUnitOid when ParseTrust(value) is { } t:
                    trust = trust is null ? t : throw new PoolCertificateException($"certificate '{certificate.Subject}' names two trust levels");
                    break;
                case OrganizationalUnitOid when KnownRoles.Contains(value):
                    roles.Add(value);
                    break;
                default:
                    throw new PoolCertificateException($"certificate '{certificate.Subject}' has an unexpected name part {rdn.GetSingleElementType().FriendlyName ?? rdn.GetSingleElementType().Value}={value}: not a pool node certificate");
            }
        }

        if (name is null || !IsValidName(name))
        {
            throw new PoolCertificateException($"certificate '{certificate.Subject}' has no valid node name (CN)");
        }

        if (org is null || !org.StartsWith(OrganizationPrefix, StringComparison.Ordinal) || !IsValidPoolId(org[OrganizationPrefix.Length..]))
        {
            throw new PoolCertificateException($"certificate '{certificate.Subject}' is not from an ActorLlm pool (O must be '{OrganizationPrefix}ID')");
        }

        if (trust is null)
        {
            throw new PoolCertificateException($"certificate '{certificate.Subject}' has no trust level (OU=trusted or OU=volunteer)");
        }

        if (roles.Count == 0)
        {
            throw new PoolCertificateException($"certificate '{certificate.Subject}' has no role (OU=worker and/or OU=gateway)");
        }

        return new PoolIdentity(name, trust.Value, roles.Distinct().ToArray(), org[OrganizationPrefix.Length..], certificate.SerialNumber, new DateTimeOffset(certificate.NotAfter.ToUniversalTime(), TimeSpan.Zero));
    }

    /// <summary>The pool id of a pool CA certificate (its O), or an error naming the certificate.</summary>
    public static string PoolIdOf(X509Certificate2 ca)
    {
        foreach (var rdn in ca.SubjectName.EnumerateRelativeDistinguishedNames())
        {
            if (!rdn.HasMultipleElements && rdn.GetSingleElementType().Value == OrganizationOid && rdn.GetSingleElementValue() is { } org
                && org.StartsWith(OrganizationPrefix, StringComparison.Ordinal) && IsValidPoolId(org[OrganizationPrefix.Length..]))
            {
                return org[OrganizationPrefix.Length..];
            }
        }

        throw new PoolCertificateException($"certificate '{ca.Subject}' is not an ActorLlm pool CA");
    }

    public static string TrustText(TrustLevel trust) => trust switch
    {
        TrustLevel.Trusted => "trusted",
        TrustLevel.Volunteer => "volunteer",
        _ => throw new ArgumentOutOfRangeException(nameof(trust), trust, null),
    };

    public static TrustLevel? ParseTrust(string text) => text.Trim().ToLowerInvariant() switch
    {
        "trusted" => TrustLevel.Trusted,
        "volunteer" => TrustLevel.Volunteer,
        _ => null,
    };

    /// <summary>Node names: 1 to 63 of a-z, 0-9, '.', '_', '-', starting with a letter or digit (they appear in a certificate's CN and in file names).</summary>
    public static bool IsValidName(string name) => NamePattern().IsMatch(name);

    public static string CheckName(string name) =>
        IsValidName(name) ? name : throw new InvalidRequestException($"node name '{name}': use 1 to 63 of a-z, 0-9, '.', '_', '-', starting with a letter or digit");

    public static bool IsValidPoolId(string id) => PoolIdPattern().IsMatch(id);

    public static string CheckPoolId(string id) =>
        IsValidPoolId(id) ? id : throw new InvalidRequestException($"pool id '{id}': use 1 to 32 of a-z, 0-9, '-'");

    /// <summary>Roles as given on a command line ("worker", "gateway", "worker,gateway"): known, distinct, at least one.</summary>
    public static IReadOnlyList<string> CheckRoles(IEnumerable<string> roles)
    {
        var list = roles.Select(r => r.Trim().ToLowerInvariant()).Where(r => r.Length > 0).Distinct().ToArray();
        foreach (var role in list.Where(r => !KnownRoles.Contains(r)))
        {
            throw new InvalidRequestException($"unknown role '{role}' (roles: worker, gateway)");
        }

        return list.Length > 0 ? list : throw new InvalidRequestException("a certificate needs at least one role (worker, gateway)");
    }

    /// <summary>The SHA-256 of a certificate's DER encoding, lower-case hex (how tokens pin the pool CA).</summary>
    public static string Fingerprint(X509Certificate2 certificate) => Convert.ToHexStringLower(SHA256.HashData(certificate.RawData));

    [GeneratedRegex("^[a-z0-9][a-z0-9._-]{0,62}$")]
    private static partial Regex NamePattern();

    [GeneratedRegex("^[a-z0-9][a-z0-9-]{0,31}$")]
    private static partial Regex PoolIdPattern();
}

/// <summary>A certificate that is not (or no longer) a valid pool certificate; the message says why.</summary>
public sealed class PoolCertificateException(string message) : Exception(message);

/// <summary>Why a peer's certificate is refused (<see cref="PoolCertificates.Check"/>); <see cref="Valid"/> = accepted.</summary>
public enum CertificateVerdict
{
    Valid,
    NotAPoolCertificate,
    OtherPool,
    NotSignedByPoolCa,
    NotYetValid,
    Expired,
    Revoked,
}

/// <summary>The outcome of checking a peer's certificate: the verdict, the identity when it could be read, and a sentence for the log.</summary>
public sealed record CertificateCheck(CertificateVerdict Verdict, PoolIdentity? Identity, string Reason)
{
    public bool IsValid => Verdict == CertificateVerdict.Valid;
}

/// <summary>The one check every acceptor of a pool certificate makes (the TLS validator, the renewal endpoint).</summary>
public static class PoolCertificates
{
    /// <summary>
    /// Accepts <paramref name="certificate"/> only if it is a pool node certificate of <paramref name="ca"/>'s pool,
    /// signed by <paramref name="ca"/> (the chain is built with the CA as the only trust anchor, no system roots),
    /// valid at <paramref name="now"/>, and not on <paramref name="deny"/> (by serial or by name).
    /// </summary>
    public static CertificateCheck Check(X509Certificate2 certificate, X509Certificate2 ca, DenyList deny, DateTimeOffset now)
    {
        PoolIdentity identity;
        try
        {
            identity = PoolIdentity.Parse(certificate);
        }
        catch (PoolCertificateException e)
        {
            return new CertificateCheck(CertificateVerdict.NotAPoolCertificate, null, e.Message);
        }

        string poolId = PoolIdentity.PoolIdOf(ca);
        if (identity.PoolId != poolId)
        {
            return new CertificateCheck(CertificateVerdict.OtherPool, identity, $"'{identity.Name}' has a certificate of pool {identity.PoolId}, not of this pool ({poolId})");
        }

        using (var chain = new X509Chain())
        {
            chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
            chain.ChainPolicy.CustomTrustStore.Add(ca);
            chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
            chain.ChainPolicy.VerificationFlags = X509VerificationFlags.IgnoreNotTimeValid;
            chain.ChainPolicy.DisableCertificateDownloads = true;
            bool built = chain.Build(certificate);
            bool anchored = chain.ChainElements.Count == 2 && chain.ChainElements[1].Certificate.RawData.AsSpan().SequenceEqual(ca.RawData);
            if (!built || !anchored)
            {
                string status = string.Join("; ", chain.ChainStatus.Select(s => s.StatusInformation.Trim()).Where(s => s.Length > 0));
                return new CertificateCheck(CertificateVerdict.NotSignedByPoolCa, identity, $"'{identity.Name}''s certificate is not signed by this pool's CA{(status.Length > 0 ? $" ({status})" : "")}");
            }
        }

        if (now < certificate.NotBefore.ToUniversalTime())
        {
            return new CertificateCheck(CertificateVerdict.NotYetValid, identity, $"'{identity.Name}''s certificate is valid only from {certificate.NotBefore.ToUniversalTime():u}");
        }

        if (now > identity.NotAfter)
        {
            return new CertificateCheck(CertificateVerdict.Expired, identity, $"'{identity.Name}''s certificate expired at {identity.NotAfter:u}");
        }

        if (deny.Find(identity) is { } entry)
        {
            return new CertificateCheck(CertificateVerdict.Revoked, identity, $"'{identity.Name}' was revoked at {entry.Time:u} (serial {identity.Serial})");
        }

        return new CertificateCheck(CertificateVerdict.Valid, identity, $"'{identity.Name}' ({PoolIdentity.TrustText(identity.Trust)}, {string.Join("+", identity.Roles)}) until {identity.NotAfter:u}");
    }
}
