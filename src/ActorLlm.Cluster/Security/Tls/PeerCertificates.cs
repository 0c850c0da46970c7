using System.Globalization;
using System.Security.Cryptography.X509Certificates;

namespace ActorLlm.Cluster.Security.Tls;

/// <summary>The outcome of checking a peer's certificate: the identity it proves, or why it is refused.</summary>
/// <param name="Peer">Who the certificate names, when it could be read (also on some refusals, for the log).</param>
/// <param name="Refusal">Why the peer is refused; null = accepted.</param>
public sealed record PeerVerdict(PeerIdentity? Peer, string? Refusal)
{
    public bool Accepted => Refusal is null;
}

/// <summary>The one decision of the TLS layer: may this certificate's holder associate with this node?</summary>
public static class PeerCertificates
{
    /// <summary>
    /// Accepts <paramref name="certificate"/> only if it is a node certificate (not a CA) of the pool
    /// <paramref name="poolId"/>, its chain ends at <paramref name="ca"/> and only there (the chain is built with the
    /// pool CA as the one trust anchor: no system roots, no installing anything in the machine's trust store), it is
    /// valid at <paramref name="now"/>, and <paramref name="policy"/> (the deny list) does not refuse it.
    /// </summary>
    public static PeerVerdict Check(X509Certificate2? certificate, X509Certificate2 ca, string poolId, IPeerPolicy policy, DateTimeOffset now)
    {
        if (certificate is null)
        {
            return new PeerVerdict(null, "no certificate (mutual TLS: every node shows one of the pool's CA)");
        }

        var identity = PeerIdentity.TryParse(certificate, out string parseError);
        string who = identity?.ToString() ?? $"'{certificate.Subject}'";
        if (certificate.NotAfter.ToUniversalTime() < now.UtcDateTime)
        {
            return new PeerVerdict(identity, $"certificate of {who} expired at {Time(certificate.NotAfter)} (renew it: `actorllm pool invite` a new token, then `node --join` again)");
        }

        if (certificate.NotBefore.ToUniversalTime() > now.UtcDateTime)
        {
            return new PeerVerdict(identity, $"certificate of {who} is not valid before {Time(certificate.NotBefore)} (is a clock wrong?)");
        }

        if (certificate.RawDataMemory.Span.SequenceEqual(ca.RawDataMemory.Span) || IsCa(certificate))
        {
            return new PeerVerdict(identity, $"{who} shows a CA certificate, not a node certificate");
        }

        using (var chain = new X509Chain())
        {
            chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
            chain.ChainPolicy.CustomTrustStore.Add(ca);
            chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
            chain.ChainPolicy.VerificationTime = now.UtcDateTime;
            chain.ChainPolicy.DisableCertificateDownloads = true;
            bool built = chain.Build(certificate);
            var root = chain.ChainElements.Count > 0 ? chain.ChainElements[^1].Certificate : null;
            if (!built || root is null || !root.RawDataMemory.Span.SequenceEqual(ca.RawDataMemory.Span))
            {
                string status = string.Join(", ", chain.ChainStatus.Select(s => s.Status.ToString()).Distinct());
                return new PeerVerdict(identity, $"certificate of {who} is not signed by this pool's CA (issuer '{certificate.Issuer}'{(status.Length > 0 ? "; " + status : "")})");
            }
        }

        if (identity is null)
        {
            return new PeerVerdict(null, $"not a pool node certificate: {parseError}");
        }

        if (!string.Equals(identity.PoolId, poolId, StringComparison.Ordinal))
        {
            return new PeerVerdict(identity, $"certificate of {who} is for pool '{identity.PoolId}', not this pool '{poolId}'");
        }

        return policy.Refuse(identity) is { } refused
            ? new PeerVerdict(identity, $"{who} is revoked: {refused}")
            : new PeerVerdict(identity, null);
    }

    /// <summary>The pool id a CA certificate names in its O ("ActorLlm pool ID"), or null.</summary>
    public static string? PoolIdOf(X509Certificate2 ca) =>
        ca.SubjectName.EnumerateRelativeDistinguishedNames()
            .Where(r => r.GetSingleElementType().Value == "2.5.4.10")
            .Select(r => r.GetSingleElementValue())
            .FirstOrDefault(o => o is { Length: > 0 } && o.StartsWith(PeerIdentity.OrganizationPrefix, StringComparison.Ordinal) && o.Length > PeerIdentity.OrganizationPrefix.Length)
            ?[PeerIdentity.OrganizationPrefix.Length..];

    private static bool IsCa(X509Certificate2 certificate) =>
        certificate.Extensions.OfType<X509BasicConstraintsExtension>().Any(b => b.CertificateAuthority);

    private static string Time(DateTime t) => t.ToUniversalTime().ToString("yyyy-MM-dd HH:mm:ss 'UTC'", CultureInfo.InvariantCulture);
}
