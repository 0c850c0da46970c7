using ActorLlm.Cluster.Hosting;

namespace ActorLlm.Cluster.Security.Tls;

/// <summary>Mutual TLS on the cluster port (<c>actorllm.tls</c>).</summary>
/// <param name="Enabled">Associations are TLS with a pool certificate on both ends; off = plain TCP (local pools only).</param>
/// <param name="Credentials">The directory holding ca.crt, node.crt and node.key.</param>
public sealed record TlsSettings(bool Enabled, string Credentials)
{
    /// <summary>Where `node --join` and `pool init` put a node's credentials when none is configured: $HOME/.actorllm/pool.</summary>
    public static string DefaultCredentials =>
        Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".actorllm", "pool");

    /// <param name="credentials">The resolved directory: tls.credentials, else pool.dir, else <see cref="DefaultCredentials"/> (<see cref="Hosting.PoolSettings"/> resolves it).</param>
    internal static TlsSettings Read(SettingsReader r, string credentials) => new(r.Bool("tls.enabled"), credentials);

    /// <summary>The Akka protocol of a node's address: akka.ssl.tcp with TLS, akka.tcp without.</summary>
    public string Protocol => Enabled ? "akka.ssl.tcp" : "akka.tcp";
}
