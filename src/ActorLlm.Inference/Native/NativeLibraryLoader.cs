using System.Runtime.InteropServices;

namespace ActorLlm.Inference.Native;

/// <summary>
/// Finds and loads libActorLlmNative (src/ActorLlm.Native): the path in <c>ACTORLLM_NATIVE</c>, else the file beside
/// the application, else the loader's search path (LD_LIBRARY_PATH). Loaded once per process, on first use; where it
/// is absent (every CPU machine, CI) <see cref="Load"/> says why and everything runs eagerly.
/// </summary>
internal static class NativeLibraryLoader
{
    public const string FileName = "libActorLlmNative.so";

    public const string PathVariable = "ACTORLLM_NATIVE";

    /// <summary>The library's handle, or null with the reason it could not be loaded.</summary>
    public static (IntPtr Handle, string Description) Load()
    {
        var tried = new List<string>();
        string? configured = Environment.GetEnvironmentVariable(PathVariable);
        var candidates = string.IsNullOrWhiteSpace(configured)
            ? new[] { Path.Combine(AppContext.BaseDirectory, FileName), FileName }
            : [configured];
        foreach (string candidate in candidates)
        {
            if (Path.IsPathRooted(candidate) && !File.Exists(candidate))
            {
                tried.Add($"{candidate} (no such file)");
                continue;
            }

            try
            {
                return (NativeLibrary.Load(candidate), candidate);
            }
            catch (Exception e) when (e is DllNotFoundException or BadImageFormatException)
            {
                tried.Add($"{candidate} ({FirstLine(e.Message)})");
            }
        }

        return (IntPtr.Zero, $"{FileName} not loaded: tried {string.Join("; ", tried)}");
    }

    private static string FirstLine(string text) => text.Split('\n', 2)[0].Trim();
}
