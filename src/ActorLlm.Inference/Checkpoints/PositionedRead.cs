namespace ActorLlm.Inference.Checkpoints;

/// <summary>Reads a range of a file by position, through a handle opened for that read only.</summary>
public static class PositionedRead
{
    /// <summary>
    /// Fills <paramref name="destination"/> from <paramref name="offset"/> of <paramref name="path"/> (symbolic links
    /// followed), which must be <paramref name="expectedLength"/> bytes long. Null when done; else what is wrong (a
    /// file of another size, one that ended while being read). IO errors are thrown.
    /// </summary>
    public static string? Exactly(string path, long expectedLength, long offset, Span<byte> destination)
    {
        using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        long fileBytes = RandomAccess.GetLength(handle);
        if (fileBytes != expectedLength)
        {
            return $"{Path.GetFileName(path)} here has {fileBytes} bytes, not the manifest's {expectedLength}";
        }

        for (int read = 0; read < destination.Length;)
        {
            int n = RandomAccess.Read(handle, destination[read..], offset + read);
            if (n == 0)
            {
                return $"{Path.GetFileName(path)} ended at {offset + read} while being read";
            }

            read += n;
        }

        return null;
    }
}
