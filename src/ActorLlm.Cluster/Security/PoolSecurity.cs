using ActorLlm.Cluster.Hosting;

namespace ActorLlm.Cluster.Security;

/// <summary>
/// A node process's pool security state, made once at start from <see cref="PoolSettings"/>: its credentials (null
/// when the credential directory holds none: a plain-TCP node), the live <see cref="DenyList"/> every acceptor of a
/// certificate consults, and on a gateway given actorllm.pool.dir the pool's <see cref="PoolAuthority"/> (which
/// signs joins). The deny list follows revoked.json: the pool directory's on the CA's gateway (rewritten by `pool
/// revoke`), else the credential directory's.
/// </summary>
public sealed class PoolSecurity : IDisposable
{
    private readonly IDisposable? _watch;

    private PoolSecurity(PoolCredentials? credentials, PoolAuthority? authority, DenyList deny, string revokedPath, IDisposable? watch)
    {
        Credentials = credentials;
        Authority = authority;
        Deny = deny;
        RevokedPath = revokedPath;
        _watch = watch;
    }

    public PoolCredentials? Credentials { get; }

    public PoolAuthority? Authority { get; }

    /// <summary>The live deny list: <see cref="DenyList.Changed"/> fires when `pool revoke` adds to it.</summary>
    public DenyList Deny { get; }

    /// <summary>The revoked.json this process follows.</summary>
    public string RevokedPath { get; }

    /// <summary>A process with no pool credentials and an empty deny list (clients, plain-TCP local pools).</summary>
    public static PoolSecurity None() => new(null, null, new DenyList(), "", null);

    /// <summary>
    /// Opens the pool directory (if set: the first gateway renews its own certificate when due) and the credential
    /// directory (if it holds a certificate), and starts following revoked.json.
    /// </summary>
    public static PoolSecurity Open(PoolSettings settings, DateTimeOffset now, Action<string>? log = null)
    {
        PoolAuthority? authority = null;
        if (settings.Dir.Length > 0)
        {
            authority = PoolAuthority.Open(settings.Dir);
            if (authority.RenewOwn(now, settings.RenewBefore))
            {
                log?.Invoke($"renewed this gateway's certificate in {settings.Dir} (it expired within {settings.RenewBefore.TotalDays:F0} days)");
            }
        }

        var credentials = PoolCredentials.Exist(settings.Credentials) ? PoolCredentials.Load(settings.Credentials) : null;
        if (authority is not null && credentials is not null && PoolIdentity.Fingerprint(credentials.Ca) != authority.Fingerprint)
        {
            throw new Inference.InvalidRequestException($"the credentials in {settings.Credentials} are of another pool than the pool directory {settings.Dir}");
        }

        string revoked = authority?.RevokedPath ?? Path.Combine(settings.Credentials, PoolAuthority.RevokedFile);
        var deny = new DenyList();
        var watch = credentials is not null || authority is not null ? deny.Watch(revoked, e => log?.Invoke($"warning: {e}")) : null;
        return new PoolSecurity(credentials, authority, deny, revoked, watch);
    }

    public void Dispose()
    {
        _watch?.Dispose();
        Credentials?.Dispose();
        Authority?.Dispose();
    }
}
