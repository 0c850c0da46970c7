using System.Diagnostics;
using System.Text;

namespace ActorLlm.Cluster.Security;

/// <summary>How the pool's files are written: atomically (a temporary file renamed over the old one), secrets with mode 0600.</summary>
public static class SecureFiles
{
    private const UnixFileMode Secret = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    private const UnixFileMode Public = Secret | UnixFileMode.GroupRead | UnixFileMode.OtherRead;

    /// <summary>Replaces <paramref name="path"/> with <paramref name="text"/>: readers see the old content or the new, never part.</summary>
    public static void WriteAtomic(string path, string text, bool secret)
    {
        string full = Path.GetFullPath(path);
        string temp = $"{full}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp";
        try
        {
            using (var stream = new FileStream(temp, Options(FileMode.CreateNew, secret)))
            {
                stream.Write(Encoding.UTF8.GetBytes(text));
                stream.Flush(flushToDisk: true);
            }

            File.Move(temp, full, overwrite: true);
        }
        finally
        {
            File.Delete(temp);
        }
    }

    /// <summary>Writes a new file; an existing one is an error (a pool's keys are never overwritten).</summary>
    public static void WriteNew(string path, string text, bool secret)
    {
        using var stream = new FileStream(path, Options(FileMode.CreateNew, secret));
        stream.Write(Encoding.UTF8.GetBytes(text));
        stream.Flush(flushToDisk: true);
    }

    /// <summary>Creates <paramref name="directory"/> (mode 0700 for a new one: it holds a private key).</summary>
    public static void CreatePrivateDirectory(string directory)
    {
        if (OperatingSystem.IsWindows())
        {
            Directory.CreateDirectory(directory);
        }
        else
        {
            Directory.CreateDirectory(directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
    }

    /// <summary>Whether a key file is readable by others than its owner (mode bits beyond 0600); always false on Windows.</summary>
    public static bool IsExposed(string path) =>
        !OperatingSystem.IsWindows() && (File.GetUnixFileMode(path) & ~(UnixFileMode.UserRead | UnixFileMode.UserWrite)) != 0;

    /// <summary>
    /// An exclusive lock on <paramref name="directory"/> between processes (the gateway marking a token used and
    /// `pool invite` adding one both rewrite tokens.json): a ".lock" file held open with no sharing (flock on Linux).
    /// Waits up to <paramref name="timeout"/> for another holder.
    /// </summary>
    public static IDisposable Lock(string directory, TimeSpan timeout)
    {
        string path = Path.Combine(directory, ".lock");
        var clock = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            }
            catch (IOException) when (clock.Elapsed < timeout)
            {
                // Held by another process for the few milliseconds of one rewrite: try again shortly.
                Thread.Sleep(10);
            }
        }
    }

    private static FileStreamOptions Options(FileMode mode, bool secret)
    {
        var options = new FileStreamOptions { Mode = mode, Access = FileAccess.Write, Share = FileShare.None };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = secret ? Secret : Public;
        }

        return options;
    }
}
