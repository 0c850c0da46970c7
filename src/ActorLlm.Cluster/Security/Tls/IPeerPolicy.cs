namespace ActorLlm.Cluster.Security.Tls;

/// <summary>
/// What the TLS validator asks, after the chain to the pool CA, the expiry and the pool id are checked: whether this
/// peer is refused anyway (revoked: the pool's deny list, by certificate serial or node name). Called on a DotNetty
/// thread during every handshake, so it must be thread-safe and quick (a lookup, no I/O).
/// </summary>
public interface IPeerPolicy
{
    /// <summary>Why <paramref name="peer"/> is refused (e.g. "revoked on 2026-12-02 by name"), or null to accept it.</summary>
    string? Refuse(PeerIdentity peer);
}

/// <summary>Policies the TLS layer ships with; the pool's deny list is plugged in as <see cref="From"/>(deny-list lookup).</summary>
public static class PeerPolicy
{
    /// <summary>Refuses nobody beyond the certificate checks (no deny list configured).</summary>
    public static IPeerPolicy None { get; } = new FromFunc(_ => null);

    /// <summary>A policy from a function giving the refusal reason or null.</summary>
    public static IPeerPolicy From(Func<PeerIdentity, string?> refuse) => new FromFunc(refuse);

    private sealed class FromFunc(Func<PeerIdentity, string?> refuse) : IPeerPolicy
    {
        public string? Refuse(PeerIdentity peer) => refuse(peer);
    }
}
