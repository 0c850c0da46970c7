using System.Globalization;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace ActorLlm.Cluster.Security;

/// <summary>
/// A revocation as it travels between nodes (<see cref="RevocationGossip"/>): "name|serial|ticks|signature", the
/// signature the pool CA's ECDSA over the rest. Only the gateway holding ca.key can make one; every node checks it
/// against ca.crt, so a member cannot revoke others by gossiping made-up entries.
/// </summary>
public static class SignedRevocation
{
    private const string Context = "actorllm-revocation|";

    /// <summary><paramref name="revocation"/> with the CA's signature of its name, serial and time.</summary>
    public static Revocation Sign(Revocation revocation, ECDsa caKey) =>
        revocation with { Signature = Convert.ToBase64String(caKey.SignData(Encoding.UTF8.GetBytes(Context + Body(revocation)), HashAlgorithmName.SHA256)) };

    /// <summary>The gossip element of a signed revocation: "name|serial|ticks|signature".</summary>
    public static string Element(Revocation revocation) =>
        Body(revocation) + "|" + (revocation.Signature ?? throw new ArgumentException($"the revocation of '{revocation.Name}' is not signed", nameof(revocation)));

    /// <summary>The revocation when <paramref name="element"/> is well formed and signed by <paramref name="ca"/>'s key; else null.</summary>
    public static Revocation? Verify(string element, X509Certificate2 ca)
    {
        string[] parts = element.Split('|');
        if (parts.Length != 4 || !PoolIdentity.IsValidName(parts[0]) || !long.TryParse(parts[2], NumberStyles.None, CultureInfo.InvariantCulture, out long ticks)
            || ticks < DateTimeOffset.MinValue.UtcTicks || ticks > DateTimeOffset.MaxValue.UtcTicks)
        {
            return null;
        }

        var revocation = new Revocation(parts[0], parts[1].Length == 0 ? null : parts[1], new DateTimeOffset(ticks, TimeSpan.Zero), parts[3]);
        byte[] signature;
        try
        {
            signature = Convert.FromBase64String(parts[3]);
        }
        catch (FormatException)
        {
            return null;
        }

        using var key = ca.GetECDsaPublicKey();
        return key is not null && Body(revocation) == string.Join('|', parts[..3]) && key.VerifyData(Encoding.UTF8.GetBytes(Context + Body(revocation)), signature, HashAlgorithmName.SHA256)
            ? revocation
            : null;
    }

    private static string Body(Revocation r) =>
        string.Create(CultureInfo.InvariantCulture, $"{r.Name}|{r.Serial?.ToUpperInvariant() ?? ""}|{r.Time.UtcTicks}");
}
