using System.Buffers.Text;
using System.Security.Cryptography;
using ActorLlm.Inference;

namespace ActorLlm.Cluster.Security;

/// <summary>
/// A one-time join token: "alp1_" + base64url(32 random secret bytes + the SHA-256 of the pool CA certificate).
/// The secret proves the invite; the gateway stores only its SHA-256. The fingerprint lets the joining node check,
/// before it sends anything, that the HTTPS endpoint it reached belongs to the pool that invited it (it pins the
/// CA: the gateway's certificate must be signed by the CA whose fingerprint this is; the host name is not checked).
/// </summary>
public sealed record JoinToken(byte[] Secret, byte[] CaFingerprint)
{
    public const string Prefix = "alp1_";
    public const int SecretBytes = 32;
    public const int FingerprintBytes = 32;

    /// <summary>A new token with a fresh secret for the CA with this fingerprint (hex).</summary>
    public static JoinToken New(string caFingerprint) => new(RandomNumberGenerator.GetBytes(SecretBytes), Convert.FromHexString(caFingerprint));

    /// <summary>The CA fingerprint, lower-case hex (as <see cref="PoolIdentity.Fingerprint"/>).</summary>
    public string Fingerprint => Convert.ToHexStringLower(CaFingerprint);

    /// <summary>What the gateway stores: the SHA-256 of the secret, lower-case hex.</summary>
    public string Hash => Convert.ToHexStringLower(SHA256.HashData(Secret));

    public override string ToString() => Prefix + Base64Url.EncodeToString([.. Secret, .. CaFingerprint]);

    /// <summary>Reads a token as printed by `pool invite`; anything else is refused with a clear message.</summary>
    public static JoinToken Parse(string text)
    {
        string t = text.Trim();
        if (!t.StartsWith(Prefix, StringComparison.Ordinal))
        {
            throw new InvalidRequestException($"not a join token (a token starts with '{Prefix}'; copy it whole from `actorllm pool invite`)");
        }

        byte[] bytes;
        try
        {
            bytes = Base64Url.DecodeFromChars(t.AsSpan(Prefix.Length));
        }
        catch (FormatException)
        {
            throw new InvalidRequestException("the join token is damaged (not base64url): copy it whole from `actorllm pool invite`");
        }

        return bytes.Length == SecretBytes + FingerprintBytes
            ? new JoinToken(bytes[..SecretBytes], bytes[SecretBytes..])
            : throw new InvalidRequestException($"the join token is damaged ({bytes.Length} bytes, expected {SecretBytes + FingerprintBytes}): copy it whole from `actorllm pool invite`");
    }

    /// <summary>Whether <paramref name="storedHash"/> (hex) is this token's hash, compared in constant time.</summary>
    public bool Matches(string storedHash)
    {
        Span<byte> mine = stackalloc byte[32];
        SHA256.HashData(Secret, mine);
        byte[] theirs;
        try
        {
            theirs = Convert.FromHexString(storedHash);
        }
        catch (FormatException)
        {
            return false;
        }

        return CryptographicOperations.FixedTimeEquals(mine, theirs);
    }
}
