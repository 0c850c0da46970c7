using System.Net;
using System.Net.Sockets;

namespace ActorLlm.Cli.Pool;

/// <summary>Settings of a pool of node processes on this machine.</summary>
/// <param name="Model">Model directory the gateway (and workers given one) serve.</param>
/// <param name="Directory">Where caches and logs go.</param>
/// <param name="ExtraNodeArgs">Added to every node's command line.</param>
/// <param name="GatewayArgs">Added to the gateway's command line (e.g. --set actorllm.session.prefill-chunk=16).</param>
/// <param name="HttpPort">The gateway's HTTP API port (0 = any free one).</param>
/// <param name="ApiKey">The key the gateway's API accepts; null = a new random one (<see cref="LocalPool.ApiKey"/>).</param>
/// <param name="Credentials">
/// Mutual TLS: the credentials directory (ca.crt, node.crt, node.key) of each node by its name ("gateway", "worker-1",
/// and "client" for <see cref="LocalPool.ClientSettings"/>). null = plain TCP, set explicitly on every node
/// (actorllm.tls.enabled = off): a pool of processes on this machine that nobody else reaches (`demo`, most tests).
/// </param>
public sealed record LocalPoolOptions(
    string Model,
    string Directory,
    int Redundancy = 1,
    string Host = "127.0.0.1",
    IReadOnlyList<string>? ExtraNodeArgs = null,
    IReadOnlyList<string>? GatewayArgs = null,
    int HttpPort = 0,
    string? ApiKey = null,
    Func<string, string>? Credentials = null);

/// <summary>
/// A gateway and workers as separate `actorllm node` processes on this machine, each worker a distinct "machine" so
/// replicas can be placed. Used by `actorllm demo` and by the integration tests.
/// </summary>
public sealed class LocalPool : IAsyncDisposable
{
    private readonly LocalPoolOptions _options;
    private readonly List<NodeProcess> _nodes = [];

    private LocalPool(LocalPoolOptions options, int gatewayPort)
    {
        _options = options;
        GatewayPort = gatewayPort;
        ApiKey = options.ApiKey ?? Gateway.Api.ApiKeys.Generate();
        System.IO.Directory.CreateDirectory(options.Directory);
    }

    public int GatewayPort { get; }

    /// <summary>The gateway's API base URL, e.g. http://127.0.0.1:8080/v1.</summary>
    public string ApiUrl { get; private set; } = "";

    /// <summary>The key the gateway's API accepts (given to it in its environment, never on a command line).</summary>
    public string ApiKey { get; }

    /// <summary>"host:port" of the gateway, the pool's seed.</summary>
    public string Seed => $"{_options.Host}:{GatewayPort}";

    public IReadOnlyList<NodeProcess> Nodes => _nodes;

    public NodeProcess this[string name] => _nodes.Single(n => n.Name == name);

    /// <summary>Whether the pool's cluster port is mutual TLS (<see cref="LocalPoolOptions.Credentials"/>).</summary>
    public bool Tls => _options.Credentials is not null;

    /// <summary>
    /// The settings a member that is not one of these processes (a <c>PoolClient</c>) needs to join this pool: plain
    /// TCP, or TLS with the credentials of <paramref name="name"/>.
    /// </summary>
    public IReadOnlyDictionary<string, string> ClientSettings(string name = "client") => TlsSettings(name);

    private Dictionary<string, string> TlsSettings(string name) => _options.Credentials is { } credentials
        ? new() { ["actorllm.tls.enabled"] = "on", ["actorllm.tls.credentials"] = credentials(name) }
        : new() { ["actorllm.tls.enabled"] = "off" };

    /// <summary>Starts the gateway and waits until it is up.</summary>
    public static async Task<LocalPool> StartAsync(LocalPoolOptions options, TimeSpan timeout)
    {
        var pool = new LocalPool(options, FreePort());
        var gateway = pool.LaunchGateway("gateway", pool.GatewayPort, options.HttpPort);
        await WaitUp(gateway, timeout);

        // A gateway prints its URL before its "node up" line, so it is known now unless HTTP is off.
        pool.ApiUrl = gateway.Http.IsCompletedSuccessfully ? gateway.Http.Result : "";
        return pool;
    }

    /// <summary>
    /// Starts another gateway (a distinct machine named <paramref name="name"/>, e.g. "gateway-2") with the same model,
    /// redundancy, gateway arguments and API key, its HTTP API on a free port, and waits until it is up. Returns the
    /// node; its API base URL is <see cref="NodeProcess.Http"/> (already completed when this returns).
    /// </summary>
    public async Task<NodeProcess> AddGatewayAsync(string name, TimeSpan timeout)
    {
        var gateway = LaunchGateway(name, 0, 0);
        await WaitUp(gateway, timeout);
        return gateway;
    }

    private NodeProcess LaunchGateway(string name, int port, int httpPort)
    {
        string Invariant(int value) => value.ToString(System.Globalization.CultureInfo.InvariantCulture);
        return Launch(
            name,
            "gateway",
            port,
            _options.Model,
            ["--redundancy", Invariant(_options.Redundancy), "--http-port", Invariant(httpPort), "--http-host", _options.Host, .. _options.GatewayArgs ?? []],
            new Dictionary<string, string> { ["ACTORLLM_API_KEYS"] = ApiKey });
    }

    /// <summary>Starts a worker (a distinct machine named <paramref name="name"/>); <paramref name="withModel"/> false makes it fetch the model from peers.</summary>
    public async Task<NodeProcess> AddWorkerAsync(string name, TimeSpan timeout, bool withModel = true, params string[] extraArgs)
    {
        var worker = Launch(name, "worker", 0, withModel ? _options.Model : null, ["--devices", "cpu", "--torch-threads", "1", .. extraArgs]);
        await WaitUp(worker, timeout);
        return worker;
    }

    private NodeProcess Launch(string name, string roles, int port, string? model, IEnumerable<string> extra, IReadOnlyDictionary<string, string>? environment = null)
    {
        var args = new List<string>
        {
            "--roles", roles,
            "--host", _options.Host,
            "--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "--seeds", Seed,
            "--machine", name,
            "--cache-dir", Path.Combine(_options.Directory, name + "-cache"),
        };
        if (model is not null)
        {
            args.AddRange(["--model", model]);
        }

        // Before the extra arguments, so that a test can give one node other credentials (a later --set wins).
        foreach (var (path, value) in TlsSettings(name))
        {
            args.AddRange(["--set", $"{path}={value}"]);
        }

        args.AddRange(extra);
        args.AddRange(_options.ExtraNodeArgs ?? []);
        var node = NodeProcess.Start(name, args, Path.Combine(_options.Directory, name + ".log"), environment);
        _nodes.Add(node);
        return node;
    }

    private static async Task WaitUp(NodeProcess node, TimeSpan timeout)
    {
        if (await Task.WhenAny(node.Up, Task.Delay(timeout)) != node.Up)
        {
            throw new TimeoutException($"{node.Name} was not up within {timeout.TotalSeconds:F0} s; log: {node.LogPath}\n{node.Tail()}");
        }

        await node.Up;
    }

    /// <summary>The log tails of every node, for error reports.</summary>
    public string Logs() => string.Join(Environment.NewLine, _nodes.Select(n => $"--- {n.Name} ({n.LogPath})" + Environment.NewLine + n.Tail(30)));

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>Stops every node gracefully (workers first, so the gateways see them leave), SIGKILL after a grace period.</summary>
    public async ValueTask DisposeAsync()
    {
        var workers = _nodes.Where(n => !n.Name.StartsWith("gateway", StringComparison.Ordinal)).ToList();
        await Task.WhenAll(workers.Select(w => w.StopAsync(TimeSpan.FromSeconds(10))));
        await Task.WhenAll(_nodes.Except(workers).Select(n => n.StopAsync(TimeSpan.FromSeconds(10))));
        foreach (var n in _nodes)
        {
            n.Dispose();
        }
    }
}
