using System.Security.Cryptography.X509Certificates;

namespace ActorLlm.Cluster.Security.Tls;

/// <summary>
/// Who a pool certificate says its holder is, as far as the TLS layer needs it: the subject is
/// <c>CN=NAME, OU=TRUST[, OU=ROLE...], O=ActorLlm pool POOLID</c> (the OUs told apart by value, so their order does
/// not matter). The full parse, with roles, lives with the pool's CA (Security/PoolIdentity.cs); this one reads only
/// what a refusal or the membership guard names.
/// </summary>
/// <param name="Name">The node's name (CN).</param>
/// <param name="Volunteer">OU=volunteer: a machine someone else runs; OU=trusted: one the pool's owner runs.</param>
/// <param name="PoolId">The pool id (O = "ActorLlm pool " + id).</param>
/// <param name="Serial">The certificate's serial number (hex, upper case).</param>
/// <param name="NotAfter">When the certificate expires.</param>
public sealed record PeerIdentity(string Name, bool Volunteer, string PoolId, string Serial, DateTimeOffset NotAfter)
{
    public const string OrganizationPrefix = "ActorLlm pool ";
    public const string TrustedUnit = "trusted";
    public const string VolunteerUnit = "volunteer";

    public string Trust => Volunteer ? VolunteerUnit : TrustedUnit;

    public override string ToString() => $"{Name} ({Trust}, serial {Serial})";

    /// <summary>Reads the identity of <paramref name="certificate"/>; null with <paramref name="error"/> saying why when it is not a pool node's.</summary>
    public static PeerIdentity? TryParse(X509Certificate2 certificate, out string error)
    {
        string? cn = null, org = null;
        bool? volunteer = null;
        foreach (var rdn in certificate.SubjectName.EnumerateRelativeDistinguishedNames())
        {
            string? value = rdn.GetSingleElementValue();
            switch (rdn.GetSingleElementType().Value)
            {
                case "2.5.4.3":
                    cn = value;
                    break;
                case "2.5.4.10":
                    org = value;
                    break;
                case "2.5.4.11" when value is TrustedUnit or VolunteerUnit:
                    if (volunteer is not null)
                    {
                        error = $"'{certificate.Subject}' names its trust twice";
                        return null;
                    }

                    volunteer = value == VolunteerUnit;
                    break;
            }
        }

        if (string.IsNullOrWhiteSpace(cn))
        {
            error = $"'{certificate.Subject}' has no node name (CN)";
            return null;
        }

        if (org is null || !org.StartsWith(OrganizationPrefix, StringComparison.Ordinal) || org.Length == OrganizationPrefix.Length)
        {
            error = $"'{certificate.Subject}' is not a pool certificate (no O=ActorLlm pool ID)";
            return null;
        }

        if (volunteer is null)
        {
            error = $"'{certificate.Subject}' has no trust level (OU=trusted or OU=volunteer)";
            return null;
        }

        error = "";
        return new PeerIdentity(cn, volunteer.Value, org[OrganizationPrefix.Length..], certificate.SerialNumber.ToUpperInvariant(), certificate.NotAfter.ToUniversalTime());
    }
}
