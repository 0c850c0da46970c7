namespace ActorLlm.Testing;

/// <summary>
/// Locations in the repository, found by walking up from the test assembly to ActorLlm.sln, so tests read models and
/// fixtures in place.
/// </summary>
public static class RepoPaths
{
    public static string Root { get; } = FindRoot();

    /// <summary>The bundled models (models/ at the repository root).</summary>
    public static string ModelsDir => Path.Combine(Root, "models");

    /// <summary>The bundled default model.</summary>
    public static string Stories260K => Path.Combine(ModelsDir, "stories260K");

    /// <summary>Test fixtures (tests/fixtures).</summary>
    public static string FixturesDir => Path.Combine(Root, "tests", "fixtures");

    /// <summary>The tiny Llama checkpoint and the outputs Hugging Face transformers computed for it.</summary>
    public static string HfLlamaTiny => Path.Combine(FixturesDir, "hf-llama-tiny");

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "ActorLlm.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException($"no ActorLlm.sln above {AppContext.BaseDirectory}");
    }
}
