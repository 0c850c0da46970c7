using System.Collections.Concurrent;
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using Akka.Event;

namespace ActorLlm.Cluster.Security.Tls;

/// <summary>
/// The certificate validation callback of this node's TLS handshakes (Akka.Remote's
/// <c>CertificateValidationCallback</c>, given to DotNetty through the remoting's SslOptions.CustomValidator): it runs
/// on both sides of every association, server side for the node that connects in, client side for the node this one
/// connects to. It ignores the operating system's verdict (<see cref="SslPolicyErrors"/>: the pool CA is in no system
/// trust store, on purpose) and decides by <see cref="PeerCertificates.Check"/> alone. A refusal is logged once per
/// (peer host, reason): a refused node retries its join every few seconds, and a port scanner connects from many ports.
/// Accepted peers are recorded in <see cref="Peers"/> for the membership guard.
/// </summary>
public sealed class PeerValidator
{
    /// <summary>Distinct refusals remembered; past this, further ones are counted but not logged (a flood of new reasons).</summary>
    public const int MaxLoggedRefusals = 10_000;

    private readonly X509Certificate2 _ca;
    private readonly string _poolId;
    private readonly IPeerPolicy _policy;
    private readonly TimeProvider _time;
    private readonly ConcurrentDictionary<(string Host, string Reason), byte> _logged = new();
    private long _refusals;

    public PeerValidator(X509Certificate2 ca, string poolId, IPeerPolicy policy, TimeProvider? time = null)
    {
        _ca = ca;
        _poolId = poolId;
        _policy = policy;
        _time = time ?? TimeProvider.System;
    }

    /// <summary>Who is at the other end of each accepted association, by the peer string the transport gives.</summary>
    public PeerDirectory Peers { get; } = new();

    /// <summary>The reasons of the refusals logged so far (each once per peer host).</summary>
    public IReadOnlyList<string> LoggedReasons => [.. _logged.Keys.Select(k => k.Reason)];

    /// <summary>Refusals so far (logged or not).</summary>
    public long Refusals => Interlocked.Read(ref _refusals);

    /// <summary>The callback, in Akka.Remote's <c>CertificateValidationCallback</c> shape.</summary>
    public bool Validate(X509Certificate2? certificate, X509Chain? chain, string remotePeer, SslPolicyErrors errors, ILoggingAdapter log)
    {
        // The chain and errors the transport built are against the system's roots, which hold no pool CA: unused.
        _ = (chain, errors);
        var verdict = PeerCertificates.Check(certificate, _ca, _poolId, _policy, _time.GetUtcNow());
        if (verdict.Accepted)
        {
            Peers.Record(remotePeer, verdict.Peer!);
            return true;
        }

        Interlocked.Increment(ref _refusals);
        if (ShouldLog(remotePeer, verdict.Refusal!))
        {
            log.Warning("TLS: refused the association with {0}: {1}", remotePeer, verdict.Refusal);
        }

        return false;
    }

    /// <summary>Why the policy (the live deny list) now refuses <paramref name="peer"/>, accepted earlier; null if it does not.</summary>
    public string? Refuses(PeerIdentity peer) => _policy.Refuse(peer);

    /// <summary>True the first time (host of <paramref name="remotePeer"/>, <paramref name="reason"/>) is refused.</summary>
    public bool ShouldLog(string remotePeer, string reason) =>
        _logged.Count < MaxLoggedRefusals && _logged.TryAdd((HostOf(remotePeer), reason), 0);

    /// <summary>
    /// The host of a peer as the transport names it: server side the socket's remote end point ("127.0.0.1:50312",
    /// "[::ffff:127.0.0.1]:50312"), whose port changes with every connection; client side the Akka address it dials
    /// ("akka.ssl.tcp://actorllm@10.0.0.2:4050"), kept whole (it is stable).
    /// </summary>
    public static string HostOf(string remotePeer)
    {
        if (remotePeer.Contains("://", StringComparison.Ordinal))
        {
            return remotePeer;
        }

        int colon = remotePeer.LastIndexOf(':');
        string host = colon > 0 && remotePeer.IndexOf(']', StringComparison.Ordinal) < colon ? remotePeer[..colon] : remotePeer;
        host = host.Trim('[', ']');
        return host.StartsWith("::ffff:", StringComparison.OrdinalIgnoreCase) ? host["::ffff:".Length..] : host;
    }
}

/// <summary>
/// The identities of this node's TLS peers, by their end point: host and port of the socket's far end, as the
/// validator sees it (an end point "127.0.0.1:50312", or for outbound associations the Akka address it dials) and as
/// an association handle names it (its remote address's host and port), so that the membership guard can tell who
/// sent a message.
/// </summary>
public sealed class PeerDirectory
{
    private readonly ConcurrentDictionary<string, PeerIdentity> _peers = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, PeerIdentity> _origins = new(StringComparer.Ordinal);

    public void Record(string remotePeer, PeerIdentity identity)
    {
        if (Key(remotePeer) is { } key)
        {
            _peers[key] = identity;
        }
    }

    /// <summary>
    /// Records the Akka address (<paramref name="host"/>:<paramref name="port"/>) a peer connected from
    /// <paramref name="socketHost"/> says, in its handshake, that it listens at: so that a peer that only ever
    /// dialled in is still found by its cluster address. Believed only when the address is on the socket's own host,
    /// and the first claim of an address holds (another peer's later claim of it is ignored).
    /// </summary>
    public void RecordOrigin(string socketHost, string host, int port, PeerIdentity identity)
    {
        if (string.Equals(NormalHost(socketHost), NormalHost(host), StringComparison.OrdinalIgnoreCase))
        {
            _origins.TryAdd(Key(host, port), identity);
        }
    }

    /// <summary>Who is at an Akka address: the peer dialled there, else the peer that said it listens there (<see cref="RecordOrigin"/>).</summary>
    public PeerIdentity? AtAddress(string host, int port) =>
        Find(host, port) ?? (_origins.TryGetValue(Key(host, port), out var p) ? p : null);

    public PeerIdentity? Find(string remotePeer) => Key(remotePeer) is { } key && _peers.TryGetValue(key, out var p) ? p : null;

    public PeerIdentity? Find(string host, int port) => _peers.TryGetValue(Key(host, port), out var p) ? p : null;

    public IReadOnlyCollection<PeerIdentity> All => [.. _peers.Values];

    /// <summary>"host:port" of an end point ("[::ffff:10.0.0.2]:50312") or of an Akka address ("akka.ssl.tcp://actorllm@10.0.0.2:4050"); null if it has no port.</summary>
    public static string? Key(string remotePeer)
    {
        string s = remotePeer;
        int at = s.IndexOf('@', StringComparison.Ordinal);
        if (s.Contains("://", StringComparison.Ordinal))
        {
            s = at >= 0 ? s[(at + 1)..] : s[(s.IndexOf("://", StringComparison.Ordinal) + 3)..];
            int slash = s.IndexOf('/', StringComparison.Ordinal);
            s = slash >= 0 ? s[..slash] : s;
        }

        int colon = s.LastIndexOf(':');
        return colon > 0 && s.IndexOf(']', StringComparison.Ordinal) < colon && int.TryParse(s.AsSpan(colon + 1), out int port)
            ? Key(s[..colon], port)
            : null;
    }

    public static string Key(string host, int port) => $"{NormalHost(host)}:{port}";

    /// <summary>A host without brackets and without the IPv4-mapped prefix ("[::ffff:10.0.0.2]" → "10.0.0.2").</summary>
    public static string NormalHost(string host)
    {
        string h = host.Trim('[', ']');
        return h.StartsWith("::ffff:", StringComparison.OrdinalIgnoreCase) ? h["::ffff:".Length..] : h;
    }
}
