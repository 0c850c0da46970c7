namespace ActorLlm.Inference.Tests;

/// <summary>
/// Where the repository's files are, found from the test assembly's location by walking up to the
/// directory holding ActorLlm.sln, so tests read models and fixtures in place (nothing is copied to bin/).
/// </summary>
public static class RepoPaths
{
    private static readonly Lazy<string> _root = new(FindRoot);

    /// <summary>The repository root (the directory holding ActorLlm.sln).</summary>
    public static string Root => _root.Value;

    /// <summary>models/: bundled models such as stories260K.</summary>
    public static string ModelsDir => Path.Combine(Root, "models");

    /// <summary>tests/ActorLlm.Inference.Tests/fixtures/: this test project's fixtures (tokenizers/ and others).</summary>
    public static string FixturesDir => Path.Combine(Root, "tests", "ActorLlm.Inference.Tests", "fixtures");

    /// <summary>tests/fixtures/: fixtures shared by all test projects (hf-llama-tiny).</summary>
    public static string SharedFixturesDir => Path.Combine(Root, "tests", "fixtures");

    private static string FindRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "ActorLlm.sln")))
            {
                return directory.FullName;
            }
        }

        throw new InvalidOperationException($"no ActorLlm.sln above {AppContext.BaseDirectory}");
    }
}
