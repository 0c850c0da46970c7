using ActorLlm.Inference;
using ActorLlm.Inference.Generation;

namespace ActorLlm.Cli;

/// <summary>
/// .NET decodes command-line arguments as UTF-8 and silently replaces invalid bytes with U+FFFD. A prompt must
/// not be changed behind the user's back, so on Linux the raw bytes are read back from /proc/self/cmdline and an
/// argument that is not valid UTF-8 is an error.
/// </summary>
public static class RawArguments
{
    public static void EnsureValidUtf8()
    {
        const string cmdline = "/proc/self/cmdline";
        if (!OperatingSystem.IsLinux() || !File.Exists(cmdline))
        {
            return;
        }

        byte[] raw = File.ReadAllBytes(cmdline);
        int index = 0;
        foreach (var arg in Split(raw))
        {
            try
            {
                Prompt.DecodeUtf8(arg);
            }
            catch (InvalidRequestException e)
            {
                throw new InvalidRequestException($"command-line argument {index}: {e.Message}; pass text as UTF-8, or a file with --prompt-file");
            }

            index++;
        }
    }

    private static IEnumerable<byte[]> Split(byte[] raw)
    {
        int start = 0;
        for (int i = 0; i < raw.Length; i++)
        {
            if (raw[i] == 0)
            {
                yield return raw[start..i];
                start = i + 1;
            }
        }

        if (start < raw.Length)
        {
            yield return raw[start..];
        }
    }
}
