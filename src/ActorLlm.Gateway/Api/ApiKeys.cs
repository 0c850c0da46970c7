using System.Security.Cryptography;
using System.Text;
using ActorLlm.Cluster.Hosting;
using ActorLlm.Inference;

namespace ActorLlm.Gateway.Api;

/// <summary>
/// The API keys a gateway accepts (<c>Authorization: Bearer KEY</c>): from the keys file and the keys environment
/// variable (<see cref="HttpSettings"/>). Only SHA-256 digests are kept, compared in constant time; a key is never
/// logged, and an error never repeats what a client sent.
/// </summary>
public sealed class ApiKeys
{
    private readonly byte[][] _digests;

    private ApiKeys(bool required, IEnumerable<string> keys)
    {
        Required = required;
        _digests = [.. keys.Select(Digest)];
    }

    /// <summary>False when the operator turned auth off: every request is served.</summary>
    public bool Required { get; }

    public int Count => _digests.Length;

    /// <summary>The keys <paramref name="settings"/> name; with auth on and no key anywhere, the gateway refuses to start.</summary>
    public static ApiKeys Load(HttpSettings settings, Func<string, string?>? environment = null)
    {
        environment ??= Environment.GetEnvironmentVariable;
        var keys = new List<string>();
        if (settings.ApiKeysFile.Length > 0)
        {
            if (!File.Exists(settings.ApiKeysFile))
            {
                throw new InvalidRequestException($"http.api-keys-file {settings.ApiKeysFile} does not exist");
            }

            keys.AddRange(File.ReadLines(settings.ApiKeysFile).Select(l => (l.IndexOf('#') is int hash and >= 0 ? l[..hash] : l).Trim()).Where(l => l.Length > 0));
        }

        if (settings.ApiKeysEnv.Length > 0 && environment(settings.ApiKeysEnv) is { Length: > 0 } fromEnvironment)
        {
            keys.AddRange(fromEnvironment.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries));
        }

        if (settings.Auth && keys.Count == 0)
        {
            throw new InvalidRequestException(
                $"http.auth is on but no API key is configured: put keys in http.api-keys-file or ${settings.ApiKeysEnv}, or turn http.auth off for a pool only you can reach");
        }

        return new ApiKeys(settings.Auth, keys);
    }

    /// <summary>Whether an <c>Authorization</c> header value is a valid bearer key (any value when auth is off).</summary>
    public bool Accepts(string? authorization)
    {
        if (!Required)
        {
            return true;
        }

        const string scheme = "Bearer ";
        if (authorization is null || !authorization.StartsWith(scheme, StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        byte[] digest = Digest(authorization[scheme.Length..].Trim());
        bool found = false;
        foreach (var d in _digests)
        {
            found |= CryptographicOperations.FixedTimeEquals(d, digest);
        }

        return found;
    }

    /// <summary>A new random key (the demo's), URL-safe, 32 bytes of entropy.</summary>
    public static string Generate() =>
        "sk-actorllm-" + Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    private static byte[] Digest(string key) => SHA256.HashData(Encoding.UTF8.GetBytes(key));
}
