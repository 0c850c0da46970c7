using System.Net;
using System.Net.Sockets;
using ActorLlm.Inference;

namespace ActorLlm.Cluster.Hosting;

/// <summary>
/// Where a node listens (<c>actorllm.node.bind</c>, Akka's <c>dot-netty.tcp.hostname</c>) and the address it gives the
/// others (<c>actorllm.node.host</c>, Akka's <c>public-hostname</c>), decided by <see cref="NodeAddressing.Choose"/> from the settings and
/// the route to the first seed.
/// </summary>
/// <param name="Bind">The address the cluster port binds: an address of this machine, or a wildcard (0.0.0.0, ::).</param>
/// <param name="Advertised">The address in this node's cluster address: what the others dial, never a wildcard.</param>
/// <param name="Detected">Whether <paramref name="Advertised"/> came from the route to the seed (node.host was not given).</param>
public sealed record NodeAddresses(string Bind, string Advertised, bool Detected);

public static class NodeAddressing
{
    /// <summary>Whether <paramref name="host"/> is "every address of this machine" (0.0.0.0, ::, [::]).</summary>
    public static bool IsWildcard(string host) => host.Trim() is "0.0.0.0" or "::" or "[::]" or "*";

    /// <summary>Whether <paramref name="host"/> is a loopback address or name (127.0.0.0/8, ::1, localhost).</summary>
    public static bool IsLoopback(string host)
    {
        string h = host.Trim().Trim('[', ']');
        return h is "localhost" || (IPAddress.TryParse(h, out var ip) && IPAddress.IsLoopback(ip));
    }

    /// <summary>The host of a seed given as host:port, [v6]:port or an Akka address (akka.tcp://actorllm@host:port).</summary>
    public static string SeedHost(string seed)
    {
        string s = seed.Trim();
        int at = s.IndexOf('@', StringComparison.Ordinal);
        if (at >= 0)
        {
            s = s[(at + 1)..];
        }

        int colon = s.LastIndexOf(':');
        string host = colon > 0 ? s[..colon] : s;
        return host.Trim('[', ']');
    }

    /// <summary>
    /// The decision, pure: <paramref name="route"/> gives the local address this machine reaches a host from (null when
    /// it cannot tell); it is asked only when node.host is not given.
    /// <list type="bullet">
    /// <item>node.host given: it is advertised; it must not be a wildcard, nor loopback when the seed is not (the
    /// others could never reach it). The bind address is node.bind, else node.host.</item>
    /// <item>node.host not given, node.bind a specific address: that address is advertised too.</item>
    /// <item>neither (or node.bind a wildcard): the address of the route to the first seed (127.0.0.1 for a loopback
    /// seed, the LAN address for a seed on the LAN); with no seeds, 127.0.0.1.</item>
    /// </list>
    /// </summary>
    /// <exception cref="InvalidRequestException">A combination that cannot work, with what to give instead.</exception>
    public static NodeAddresses Choose(string bind, string host, IReadOnlyList<string> seeds, Func<string, string?> route)
    {
        ArgumentNullException.ThrowIfNull(seeds);
        ArgumentNullException.ThrowIfNull(route);
        bind = bind.Trim();
        host = host.Trim();
        string? seed = seeds.Count > 0 ? SeedHost(seeds[0]) : null;
        if (IsWildcard(host))
        {
            throw new InvalidRequestException(
                $"node.host '{host}' is the address this node gives the others, so it must be one they can reach: give this machine's LAN address (e.g. --host 192.168.1.11), or leave --host out to use the address the route to the seed leaves from; to listen on every interface, give --bind {host}");
        }

        if (host.Length > 0)
        {
            if (IsLoopback(host) && seed is not null && !IsLoopback(seed))
            {
                throw new InvalidRequestException(
                    $"--host {host} is a loopback address but the seed {seeds[0]} is not: the others could not reach this node (it would be removed after its first heartbeats); give this machine's LAN address, or leave --host out to use the address the route to the seed leaves from");
            }

            string b = bind.Length > 0 ? bind : host;
            RefuseLoopbackBind(b, host);
            return new NodeAddresses(b, host, Detected: false);
        }

        if (bind.Length > 0 && !IsWildcard(bind))
        {
            return new NodeAddresses(bind, bind, Detected: false);
        }

        if (seed is null)
        {
            return new NodeAddresses(bind.Length > 0 ? bind : "127.0.0.1", "127.0.0.1", Detected: true);
        }

        string? local = route(seed);
        if (local is null || IsWildcard(local))
        {
            throw new InvalidRequestException(
                $"cannot tell which address of this machine reaches the seed {seeds[0]} (no route, or its name does not resolve): give --host with this machine's LAN address");
        }

        return new NodeAddresses(bind.Length > 0 ? bind : local, local, Detected: true);
    }

    private static void RefuseLoopbackBind(string bind, string advertised)
    {
        if (IsLoopback(bind) && !IsLoopback(advertised))
        {
            throw new InvalidRequestException(
                $"--bind {bind} listens on loopback only, but --host {advertised} tells the others to dial a LAN address: nobody else could connect; give --bind 0.0.0.0, or leave --bind out to bind {advertised}");
        }
    }

    /// <summary>
    /// The local address this machine's route to <paramref name="host"/> leaves from: a UDP socket "connected" to it
    /// (no packet is sent; the kernel only picks the route and source address). Null when the name does not resolve
    /// or there is no route.
    /// </summary>
    public static string? RouteTowards(string host)
    {
        try
        {
            var target = IPAddress.TryParse(host, out var ip) ? ip
                : Dns.GetHostAddresses(host).OrderBy(a => a.AddressFamily == AddressFamily.InterNetwork ? 0 : 1).FirstOrDefault();
            if (target is null)
            {
                return null;
            }

            if (IPAddress.IsLoopback(target))
            {
                return target.AddressFamily == AddressFamily.InterNetworkV6 ? "::1" : "127.0.0.1";
            }

            using var socket = new Socket(target.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
            socket.Connect(new IPEndPoint(target, 9));
            return socket.LocalEndPoint is IPEndPoint local && !local.Address.Equals(IPAddress.Any) && !local.Address.Equals(IPAddress.IPv6Any)
                ? local.Address.ToString()
                : null;
        }
        catch (SocketException)
        {
            return null;
        }
    }

    /// <summary><see cref="Choose"/> with this machine's routes.</summary>
    public static NodeAddresses Resolve(NodeSettings node) => Choose(node.Bind, node.Host, node.Seeds, RouteTowards);
}
