using System.Security.Cryptography;

namespace ActorLlm.Inference.Checkpoints;

/// <summary>Sizes and sha256 digests of files, streamed.</summary>
public static class FileDigest
{
    /// <summary>The file's length and lowercase hex sha256.</summary>
    public static (long Bytes, string Sha256) Of(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20);
        return (stream.Length, Convert.ToHexStringLower(SHA256.HashData(stream)));
    }

    /// <summary>Lowercase hex sha256 of bytes in memory.</summary>
    public static string Sha256(ReadOnlySpan<byte> bytes) => Convert.ToHexStringLower(SHA256.HashData(bytes));
}
