using System.CommandLine;
using ActorLlm.Cluster.Hosting;
using ActorLlm.Cluster.Security.Tls;
using ActorLlm.Gateway;
using Akka.Actor;
using Akka.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using TorchSharp;

namespace ActorLlm.Cli.Commands;

/// <summary>
/// <c>actorllm node</c>: runs a pool node (worker, gateway, or both) until stopped (Ctrl-C / SIGTERM leaves the
/// cluster gracefully). Settings: reference.conf, then --config, then ACTORLLM_* variables, then these options.
/// Prints one line on stdout once the node is up: "actorllm node up: ADDRESS roles=[...]".
/// </summary>
public static class NodeCommand
{
    public static Command Create()
    {
        var config = new Option<string?>("--config") { Description = "HOCON file with actorllm { ... } settings (see config/reference.conf)" };
        var printConfig = new Option<bool>("--print-config") { Description = "Print the merged actorllm settings and exit" };
        var set = new Option<string[]>("--set") { Description = "Any setting as path=value, e.g. actorllm.session.prefill-chunk=64 (repeatable)" };
        var options = new (string Path, Option<string?> Option)[]
        {
            ("actorllm.node.roles", new Option<string?>("--roles") { Description = "worker, gateway or both (comma-separated)" }),
            ("actorllm.node.host", new Option<string?>("--host") { Description = "Address to advertise, the one the others dial (default: the address of the route to the first seed)" }),
            ("actorllm.node.bind", new Option<string?>("--bind") { Description = "Address the cluster port binds, e.g. 0.0.0.0 in a container (default: --host)" }),
            ("actorllm.node.port", new Option<string?>("--port") { Description = "Port (0 = any)" }),
            ("actorllm.node.seeds", new Option<string?>("--seeds") { Description = "host:port of the nodes to join (comma-separated)" }),
            ("actorllm.node.machine", new Option<string?>("--machine") { Description = "Machine name (replicas go to distinct machines)" }),
            ("actorllm.model.store", new Option<string?>("--model") { Description = "Unit store, Hugging Face directory, or ORG/NAME in the Hugging Face cache (workers may omit it)" }),
            ("actorllm.model.cache-dir", new Option<string?>("--cache-dir") { Description = "Where remembered manifests and pulled units live" }),
            ("actorllm.worker.devices", new Option<string?>("--devices") { Description = "cpu, cuda:N or auto (comma-separated)" }),
            ("actorllm.worker.dtype", new Option<string?>("--dtype") { Description = "auto (the model's dtype on CUDA, f32 on the CPU), f32, f16 or bf16" }),
            ("actorllm.worker.memory-limit", new Option<string?>("--memory-limit") { Description = "Bytes per device for weights (e.g. 2GiB; 0 = measure)" }),
            ("actorllm.worker.pinnable-memory", new Option<string?>("--pinnable-memory") { Description = "Host bytes per device for streamed layers (e.g. 8GiB; 0 = no streaming)" }),
            ("actorllm.worker.torch-threads", new Option<string?>("--torch-threads") { Description = "libtorch CPU threads" }),
            ("actorllm.worker.max-sessions", new Option<string?>("--max-sessions") { Description = "Sessions per stage" }),
            ("actorllm.placement.redundancy", new Option<string?>("--redundancy") { Description = "Devices on distinct machines per unit" }),
            ("actorllm.http.port", new Option<string?>("--http-port") { Description = "Gateway: the HTTP API's port (0 = any)" }),
            ("actorllm.http.host", new Option<string?>("--http-host") { Description = "Gateway: the address the HTTP API binds" }),
            ("actorllm.http.api-keys-file", new Option<string?>("--api-keys-file") { Description = "Gateway: a file of API keys, one per line" }),
            ("actorllm.tls.enabled", new Option<string?>("--tls") { Description = "on (default): mutual TLS with the pool's certificates; off: plain TCP, for a local pool nobody else can reach" }),
            ("actorllm.tls.credentials", new Option<string?>("--credentials") { Description = "This node's credential directory: ca.crt, node.crt, node.key (default: the pool directory, else ~/.actorllm/pool)" }),
            ("akka.loglevel", new Option<string?>("--log-level") { Description = "DEBUG, INFO, WARNING or ERROR" }),
            ("actorllm.log.format", new Option<string?>("--log-format") { Description = "text or json (one object per line)" }),
            ("actorllm.pool.dir", new Option<string?>("--pool") { Description = "Gateway: the pool directory from `actorllm pool init` (signs joins on the join endpoint)" }),
            ("actorllm.pool.https-port", new Option<string?>("--pool-https-port") { Description = "Gateway with --pool: the join endpoint's HTTPS port (0 = any)" }),
        };
        var join = new Option<string?>("--join") { Description = "Join a pool first: the gateway's join endpoint, https://GATEWAY:PORT (with --token)" };
        var token = new Option<string?>("--token") { Description = "The one-time join token from `actorllm pool invite` (or $ACTORLLM_JOIN_TOKEN)" };
        var command = new Command("node", "Run a pool node (worker and/or gateway)") { config, printConfig, set, join, token };
        foreach (var (_, option) in options)
        {
            command.Add(option);
        }

        command.SetAction(async (parse, cancel) =>
        {
            // Everything after this runs with Ctrl-C and SIGTERM handled (they cancel `cancel`), model preparation included.
            await Task.Yield();
            using var interrupted = cancel.Register(CliApp.InterruptedWithNativeWork);
            var overrides = options.Select(o => (o.Path, Value: parse.GetValue(o.Option))).Where(o => o.Value is not null).ToDictionary(o => o.Path, o => o.Value!);
            foreach (var pair in parse.GetValue(set) ?? [])
            {
                int eq = pair.IndexOf('=');
                if (eq <= 0)
                {
                    throw new Inference.InvalidRequestException($"--set '{pair}': expected path=value");
                }

                overrides[pair[..eq].Trim()] = pair[(eq + 1)..].Trim();
            }

            var settings = ActorLlmSettings.From(ActorLlmConfig.Build(parse.GetValue(config), overrides));
            if (parse.GetValue(printConfig))
            {
                Console.Out.WriteLine(settings.Config.GetConfig("actorllm").ToString(true));
                return CliApp.ExitOk;
            }

            // One logger factory for the whole process, given to the host too; disposed last, writing out what is queued.
            using var logging = NodeLogging.CreateFactory(settings.Log);
            s_log = logging.CreateLogger(NodeLogging.NodeCategory).Lines();
            string? joinUrl = parse.GetValue(join);
            string? joinToken = parse.GetValue(token) ?? (joinUrl is null ? null : Environment.GetEnvironmentVariable("ACTORLLM_JOIN_TOKEN"));
            if (joinUrl is not null || joinToken is not null)
            {
                if (joinUrl is null || string.IsNullOrWhiteSpace(joinToken))
                {
                    throw new Inference.InvalidRequestException("give --join https://GATEWAY:PORT and --token TOKEN together (the token from `actorllm pool invite` on the gateway)");
                }

                try
                {
                    await JoinAsync(settings.Pool, joinUrl, joinToken, cancel);
                }
                catch (OperationCanceledException) when (cancel.IsCancellationRequested)
                {
                    Log("interrupted while joining the pool; exiting");
                    return CliApp.ExitOk;
                }
            }

            // A node that has joined knows its gateway: its cluster address is the seed when none is given.
            if (settings.Node.Seeds.Count == 0 && StoredSeeds(settings.Pool) is { Count: > 0 } seeds)
            {
                overrides["actorllm.node.seeds"] = string.Join(",", seeds);
                settings = ActorLlmSettings.From(ActorLlmConfig.Build(parse.GetValue(config), overrides));
            }

            return await RunAsync(settings, logging, cancel);
        });
        return command;
    }

    private static readonly TimeSpan s_joinHint = TimeSpan.FromSeconds(8);
    private static Action<string> s_log = _ => { };

    /// <summary>One of the node's own lines (NodeLogging.Lines: "warning: ..." is a Warning).</summary>
    private static void Log(string message) => s_log(message);

    /// <summary>
    /// Refuses a cluster port already in use. Akka's transport binds with address reuse, so a second node on a taken
    /// port would start anyway and form a cluster of its own; probing with an exclusive bind first makes it an error.
    /// </summary>
    private static void RequireFreePort(string host, int port, string option)
    {
        if (port == 0)
        {
            return;
        }

        var address = host is "*" ? System.Net.IPAddress.Any
            : System.Net.IPAddress.TryParse(host.Trim('[', ']'), out var ip) ? ip
            : System.Net.Dns.GetHostAddresses(host).FirstOrDefault() ?? System.Net.IPAddress.Loopback;
        try
        {
            using var probe = new System.Net.Sockets.Socket(address.AddressFamily, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp) { ExclusiveAddressUse = true };
            probe.Bind(new System.Net.IPEndPoint(address, port));
        }
        catch (System.Net.Sockets.SocketException e) when (e.SocketErrorCode == System.Net.Sockets.SocketError.AddressAlreadyInUse)
        {
            throw new Inference.InvalidRequestException($"port {port} on {host} is already in use (another node? `actorllm status` or `ss -ltnp` tells): give another --port");
        }
        catch (System.Net.Sockets.SocketException e) when (e.SocketErrorCode == System.Net.Sockets.SocketError.AddressNotAvailable)
        {
            throw new Inference.InvalidRequestException(option == "--bind"
                ? $"--bind {host} is not an address of this machine: give one of its own addresses (ip -brief address), or 0.0.0.0 for every interface"
                : $"--host {host} is not an address of this machine, so this node cannot listen on it: give one of its own addresses (ip -brief address); to advertise an address that is not its own (NAT, a container's name), give --bind 0.0.0.0 with it");
        }
    }

    /// <summary>
    /// `node --join`: makes this node's key, has the gateway sign its certificate (verified by the token's CA
    /// fingerprint first) and stores the credentials. A node that holds credentials of the same pool already keeps
    /// them (the token is not used), so the same command line can start it again.
    /// </summary>
    private static async Task JoinAsync(PoolSettings pool, string url, string token, CancellationToken cancel)
    {
        var parsed = Cluster.Security.JoinToken.Parse(token);
        if (Cluster.Security.PoolCredentials.Exist(pool.Credentials))
        {
            using var existing = Cluster.Security.PoolCredentials.Load(pool.Credentials);
            if (Cluster.Security.PoolIdentity.Fingerprint(existing.Ca) != parsed.Fingerprint)
            {
                throw new Inference.InvalidRequestException($"{pool.Credentials} holds credentials of another pool ({existing.Identity.PoolId}, as '{existing.Identity.Name}'): give another --credentials DIR to join this one");
            }

            Log($"already joined pool {existing.Identity.PoolId} as '{existing.Identity.Name}' (credentials in {pool.Credentials}); the token was not used");
            return;
        }

        using var joined = await Cluster.Security.PoolJoinClient.JoinAsync(url, token, pool.Credentials, pool.JoinTimeout, cancel);
        var id = joined.Identity;
        Log($"joined pool {id.PoolId} as '{id.Name}' ({Cluster.Security.PoolIdentity.TrustText(id.Trust)}, {string.Join("+", id.Roles)}); certificate until {id.NotAfter:u}; credentials in {pool.Credentials}");
    }

    private static IReadOnlyList<string>? StoredSeeds(PoolSettings pool)
    {
        if (!Cluster.Security.PoolCredentials.Exist(pool.Credentials))
        {
            return null;
        }

        using var credentials = Cluster.Security.PoolCredentials.Load(pool.Credentials);
        return credentials.Info?.Seeds;
    }

    /// <summary>
    /// The pool state of this process. A certificate that expires within pool.renew-before is renewed first, at the
    /// gateway it joined through (a failure is a warning: the node starts with what it has).
    /// </summary>
    private static async Task<Cluster.Security.PoolSecurity> OpenPoolAsync(PoolSettings pool, CancellationToken cancel)
    {
        if (pool.Dir.Length == 0 && Cluster.Security.PoolCredentials.Exist(pool.Credentials))
        {
            using var current = Cluster.Security.PoolCredentials.Load(pool.Credentials);
            if (current.Identity.NotAfter - DateTimeOffset.UtcNow < pool.RenewBefore && current.Info is not null)
            {
                try
                {
                    using var renewed = await Cluster.Security.PoolJoinClient.RenewAsync(current, pool.JoinTimeout, cancel);
                    Log($"renewed this node's certificate: '{renewed.Identity.Name}' until {renewed.Identity.NotAfter:u}");
                }
                catch (Inference.InvalidRequestException e)
                {
                    Log($"warning: the certificate of '{current.Identity.Name}' expires at {current.Identity.NotAfter:u} and could not be renewed: {e.Message}");
                }
            }
        }

        var security = Cluster.Security.PoolSecurity.Open(pool, DateTimeOffset.UtcNow, Log);
        if (security.Credentials is { } credentials)
        {
            Log($"pool {credentials.Identity.PoolId}: this node is '{credentials.Identity.Name}' ({Cluster.Security.PoolIdentity.TrustText(credentials.Identity.Trust)}, {string.Join("+", credentials.Identity.Roles)}), certificate until {credentials.Identity.NotAfter:u}; deny list {security.RevokedPath}: {security.Deny.Count} entries");
        }

        security.Deny.Changed += added =>
            Log($"deny list: revoked {string.Join(", ", added.Select(a => a.Serial is null ? $"'{a.Name}'" : $"'{a.Name}' serial {a.Serial}"))}");
        return security;
    }

    public static async Task<int> RunAsync(ActorLlmSettings settings, ILoggerFactory logging, CancellationToken cancel)
    {
        s_log = logging.CreateLogger(NodeLogging.NodeCategory).Lines();
        if (settings.Node.Seeds.Count == 0)
        {
            throw new Inference.InvalidRequestException(
                "no seeds: give --seeds HOST:PORT, the gateway to join (the first gateway of a pool names itself, e.g. --port 4050 --seeds 192.168.1.10:4050)");
        }

        // Where to listen and what to advertise (NodeAddressing): from here on node.host is concrete.
        var addresses = NodeAddressing.Resolve(settings.Node);
        if (addresses.Detected)
        {
            Log($"advertising {addresses.Advertised}: the address this machine reaches the seed {settings.Node.Seeds[0]} from (--host chooses another)");
        }

        settings = settings with
        {
            Node = settings.Node with { Host = addresses.Advertised, Bind = addresses.Bind },
            Pool = settings.Pool.HttpsHost.Length > 0 ? settings.Pool : settings.Pool with { HttpsHost = addresses.Bind },
        };
        RequireFreePort(addresses.Bind, settings.Node.Port, addresses.Bind != addresses.Advertised ? "--bind" : "--host");
        if (settings.Node.IsWorker)
        {
            // A device this machine cannot use is a reason not to start, said now (not a worker with no stages).
            foreach (var device in settings.Worker.Devices.Where(d => !d.Trim().Equals("auto", StringComparison.OrdinalIgnoreCase)))
            {
                _ = Inference.Devices.ComputeTarget.ParseDevice(device);
            }
        }
        if (settings.Node.IsWorker)
        {
            torch.set_num_threads(settings.Worker.TorchThreads);
        }

        using var pool = await OpenPoolAsync(settings.Pool, cancel);
        if (pool.Authority is not null && !(settings.Node.IsGateway && settings.Http.Enabled))
        {
            throw new Inference.InvalidRequestException("--pool (actorllm.pool.dir) is for a gateway with HTTP on: it serves the join endpoint; other nodes use --credentials");
        }

        // Credentials first: a node that cannot show a pool certificate says so (and how to get one) before loading a
        // model. The pool's live deny list is the TLS layer's policy: a revoked name or serial cannot associate.
        using var tls = settings.Tls.Enabled ? NodeTls.Load(settings.Tls, Cluster.Security.RevokedMembers.Policy(pool.Deny)) : null;
        if (tls is null)
        {
            Log("warning: TLS is off (actorllm.tls.enabled): the cluster port is plain TCP, open to anyone who can reach it; only for a local pool");
        }
        else
        {
            Log($"TLS: mutual, as {tls.Credentials.Identity} of pool {tls.Credentials.Identity.PoolId} (credentials {settings.Tls.Credentials})");
        }

        using var resources = NodeResources.Prepare(settings, Log);

        // A gateway serves HTTP from the same host as its Akka node; every other node is the Akka node alone.
        var web = settings.Node.IsGateway && settings.Http.Enabled ? GatewayWebHost.Build(settings, resources, Log, pool, tls, logging) : null;
        IHost host = web ?? new HostBuilder()
            .ConfigureServices(s => s.UseFactory(logging).AddAkka(ActorLlmSettings.SystemName, b => b.WithActorLlm(settings, resources, tls)))
            .Build();
        bool abandoned = false;
        try
        {
            return await RunHostAsync(host, settings, web, pool, tls, cancel, () => abandoned = true);
        }
        finally
        {
            // A host whose leave was cut short is not disposed: disposing would wait for the leave.
            if (!abandoned)
            {
                host.Dispose();
            }
        }
    }

    /// <summary>How long a node stopped by Ctrl-C or SIGTERM waits for its cluster leave to complete before it exits anyway.</summary>
    private static readonly TimeSpan s_leaveGrace = TimeSpan.FromSeconds(1.2);

    private static async Task<int> RunHostAsync(IHost host, ActorLlmSettings settings, Microsoft.AspNetCore.Builder.WebApplication? web, Cluster.Security.PoolSecurity pool, NodeTls? tls, CancellationToken cancel, Action abandon)
    {
        try
        {
            await host.StartAsync(cancel);
        }
        catch (OperationCanceledException) when (cancel.IsCancellationRequested)
        {
            Log("interrupted while starting; exiting");
            return CliApp.ExitOk;
        }

        var system = host.Services.GetRequiredService<ActorSystem>();
        var cluster = Akka.Cluster.Cluster.Get(system);
        Cluster.Security.RevocationGossip.Start(system, pool);
        if (tls is not null)
        {
            Cluster.Security.RevokedMembers.DownWhenRevoked(system, tls, pool.Deny, Log);
        }

        // The http line comes first: whoever waits for "node up" has the URL too by then.
        if (web is not null)
        {
            Console.Out.WriteLine($"actorllm http: {GatewayWebHost.Url(web)}/v1");
            if (GatewayWebHost.PoolUrl(web) is { } joinUrl)
            {
                Console.Out.WriteLine($"actorllm pool join: {joinUrl}");
            }
        }

        Console.Out.WriteLine($"actorllm node up: {cluster.SelfAddress} roles=[{string.Join(",", settings.Node.Roles)}] machine={settings.Node.Machine}");
        Console.Out.Flush();

        // Not a member within seconds: say what to check (the join goes on; Akka retries the seeds).
        var joined = new TaskCompletionSource();
        cluster.RegisterOnMemberUp(() =>
        {
            joined.TrySetResult();
            Log($"joined the pool: {cluster.SelfAddress} is Up, seeds {string.Join(", ", settings.Node.Seeds)}");
        });
        _ = Task.Delay(s_joinHint, cancel).ContinueWith(
            _ =>
            {
                if (!joined.Task.IsCompleted && !cancel.IsCancellationRequested)
                {
                    Log($"warning: not a member of the pool {s_joinHint.TotalSeconds:F0} s after start: is a gateway running at {string.Join(", ", settings.Node.Seeds)}, reachable from this machine (firewall), and does it advertise exactly that address? Still trying.");
                }
            },
            TaskScheduler.Default);

        // Ends on Ctrl-C/SIGTERM (graceful leave) or when the cluster downs this node (the actor system terminates).
        var stopped = new TaskCompletionSource();
        using var registration = cancel.Register(() => stopped.TrySetResult());
        await Task.WhenAny(stopped.Task, system.WhenTerminated);

        // Ctrl-C and SIGTERM come here through `cancel` (Akka's own process-exit hook is off: reference.conf); only a
        // downing is a failure.
        var reason = CoordinatedShutdown.Get(system).ShutdownReason;
        bool downed = reason is CoordinatedShutdown.ClusterDowningReason or Cluster.Worker.RefusedByPool;
        var stopping = host.StopAsync(CancellationToken.None);
        if (!downed && cancel.IsCancellationRequested && await Task.WhenAny(stopping, Task.Delay(s_leaveGrace, CancellationToken.None)) != stopping)
        {
            // Ctrl-C ends a node within 2 s: the Leave has been sent, and the others remove a member that left while
            // exiting; the actor system's threads do not keep the process alive.
            abandon();
            Log($"the cluster leave did not complete within {s_leaveGrace.TotalSeconds:0.#} s; exiting without waiting for it");
            return CliApp.ExitOk;
        }

        await stopping;
        if (reason is CoordinatedShutdown.ClusterDowningReason)
        {
            Log("warning: this node was removed from the cluster; exiting");
            return CliApp.ExitError;
        }

        if (reason is Cluster.Worker.RefusedByPool)
        {
            Log("warning: the pool refused this worker (see above); exiting");
            return CliApp.ExitError;
        }

        return CliApp.ExitOk;
    }
}
