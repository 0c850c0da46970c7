using System.Text;
using ActorLlm.Inference;

namespace ActorLlm.Cli;

/// <summary>
/// .NET decodes command-line arguments as UTF-8 and silently replaces invalid bytes with U+FFFD. A prompt must
/// not be changed behind the user's back, so on Linux the raw bytes are read back from /proc/self/cmdline and an
/// argument that is not valid UTF-8 is an error.
/// </summary>
public static class RawArguments
{
    private static readonly UTF8Encoding s_strict = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

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
                s_strict.GetString(arg);
            }
            catch (DecoderFallbackException e)
            {
                throw new InvalidRequestException(
                    $"command-line argument {index} is not valid UTF-8 (byte {e.Index} of it); pass text as UTF-8, or a file with --prompt-file");
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
