using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using ActorLlm.Cli.Http;
using ActorLlm.Cli.Pool;
using ActorLlm.Inference.Devices;
using ActorLlm.Inference.Execution;
using ActorLlm.Inference.Generation;
using ActorLlm.Protocol.Messages;
using Xunit;
using Xunit.Abstractions;
using YamlDotNet.RepresentationModel;

namespace ActorLlm.IntegrationTests;

/// <summary>
/// docker-compose/docker-compose.yml, without a Docker daemon: `docker-compose config` validates it and prints it
/// resolved, and the command lines and environment it gives the gateway and the CPU workers run as real processes
/// here (service names resolved to 127.0.0.1, the volumes' mount points to directories here) and form a pool that
/// serves the API. The GPU worker's line is validated but not run (no GPU here).
/// </summary>
public sealed class HomeLabComposeTests(ITestOutputHelper output)
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(120);
    private static readonly string s_compose = Path.Combine(RepoPaths.Root, "docker-compose", "docker-compose.yml");

    private static string Model => Path.Combine(AppContext.BaseDirectory, "models", "stories260K");

    private sealed record Service(string Name, string[] Command, Dictionary<string, string> Environment, string[] Volumes);

    [SkippableFact]
    public async Task The_compose_file_is_valid_and_its_command_lines_form_a_pool_that_serves_the_API()
    {
        Skip.If(!OnPath("docker-compose"), "docker-compose is not installed (scripts/ensure-package.sh installs it from Debian's packages)");
        using var dir = new TempDir();
        string key = Gateway.Api.ApiKeys.Generate();
        string[] names = ["GATEWAY_PORT", "CPU_WORKER_1_PORT", "CPU_WORKER_2_PORT", "GPU_WORKER_PORT", "HTTP_PORT"];
        var ports = names.Zip(FreePorts(names.Length)).ToDictionary(p => p.First, p => p.Second);
        var services = await Config(new Dictionary<string, string>(ports) { ["ACTORLLM_API_KEYS"] = key, ["MODEL_DIR"] = Model, ["CPU_THREADS"] = "1" });
        Assert.Equal(["cpu-worker-1", "cpu-worker-2", "gateway", "gpu-worker"], services.Keys.Order());
        Assert.Contains("--devices", services["gpu-worker"].Command);

        var nodes = new List<NodeProcess>();
        try
        {
            foreach (var name in new[] { "gateway", "cpu-worker-1", "cpu-worker-2" })
            {
                var s = services[name];
                Assert.Equal("node", s.Command[0]);
                Assert.Equal("0.0.0.0", s.Command[Array.IndexOf(s.Command, "--bind") + 1]);   // every interface of the container,
                Assert.Equal(name, s.Command[Array.IndexOf(s.Command, "--host") + 1]);         // its service name advertised
                var environment = s.Environment.ToDictionary(e => e.Key, e => Local(e.Value, services.Keys, bare: false));
                string cache = Path.Combine(dir.Path, name + "-cache");
                environment["ACTORLLM_CACHE_DIR"] = cache;  // the image's ENV, its /cache volume here
                var args = s.Command.Skip(1).Select((a, i) => Local(Mount(a, s.Volumes, cache), services.Keys, bare: i > 0 && s.Command[i] == "--host")).ToArray();
                nodes.Add(NodeProcess.Start(name, args, Path.Combine(dir.Path, name + ".log"), environment));

                // The gateway first, up and listening, before the workers start: compose starts them together, but on
                // one loopback a worker dialling the gateway's port before anything listens there can be handed that
                // very port as its own source port (a TCP self-connect), and the gateway then fails to bind it.
                if (name == "gateway")
                {
                    await nodes[0].Up.WaitAsync(s_timeout);
                }
            }

            await Task.WhenAll(nodes.Select(n => n.Up)).WaitAsync(s_timeout);
            string url = await nodes[0].Http.WaitAsync(s_timeout);
            Assert.Equal($"http://localhost:{ports["HTTP_PORT"]}/v1", url);
            using var client = new GatewayClient(url, key, s_timeout);
            var status = await client.WaitForAsync(st => st.Devices.Length == 2 && st.ServesPlan() && st.Devices.All(d => d.Serving is not null), s_timeout, TimeSpan.FromMilliseconds(200));
            Assert.Equal(["cpu-worker-1:cpu", "cpu-worker-2:cpu"], status.Devices.Select(d => d.Device.Label).Order());

            var options = new WireGenerationOptions(24, WireSampling.Greedy, [], StopAtEos: true);
            var result = await client.CompleteAsync("Once upon a time", options, null);
            using var local = LocalGenerator.Load(Model, ComputeTarget.Cpu, new KvCacheOptions(1, 512));
            Assert.Equal(local.Generate("Once upon a time", WireOptions.ToOptions(options)).Text, result.Text);
            Assert.Equal(2, result.Stages.Length);
        }
        catch
        {
            // The gateway last: when a log is cut, it is cut from the top.
            foreach (var n in nodes.AsEnumerable().Reverse())
            {
                output.WriteLine($"--- {n.Name}{(n.HasExited ? " (exited)" : "")}\n{n.Tail(n.Name == "gateway" ? 80 : 15)}");
            }

            throw;
        }
        finally
        {
            foreach (var n in nodes.AsEnumerable().Reverse())
            {
                await n.StopAsync(TimeSpan.FromSeconds(10));
                n.Dispose();
            }
        }
    }

    [SkippableFact]
    public async Task The_compose_file_refuses_to_start_a_gateway_without_an_API_key()
    {
        Skip.If(!OnPath("docker-compose"), "docker-compose is not installed (scripts/ensure-package.sh installs it from Debian's packages)");
        var (code, _, stderr) = await DockerCompose(new Dictionary<string, string> { ["ACTORLLM_API_KEYS"] = "" }, "config", "--quiet");
        Assert.NotEqual(0, code);
        Assert.Contains("ACTORLLM_API_KEYS", stderr);
    }

    /// <summary>The compose file as `docker-compose config` resolves it with <paramref name="environment"/>.</summary>
    private static async Task<Dictionary<string, Service>> Config(Dictionary<string, string> environment)
    {
        var (code, stdout, stderr) = await DockerCompose(environment, "config");
        Assert.True(code == 0, $"docker-compose config failed: {stderr}");
        var yaml = new YamlStream();
        yaml.Load(new StringReader(stdout));
        var root = (YamlMappingNode)yaml.Documents[0].RootNode;
        var services = (YamlMappingNode)root.Children[new YamlScalarNode("services")];
        return services.Children.ToDictionary(
            s => ((YamlScalarNode)s.Key).Value!,
            s =>
            {
                var m = (YamlMappingNode)s.Value;
                string[] List(string key) => m.Children.TryGetValue(new YamlScalarNode(key), out var n) ? [.. ((YamlSequenceNode)n).Children.Select(c => ((YamlScalarNode)c).Value!)] : [];
                var env = m.Children.TryGetValue(new YamlScalarNode("environment"), out var e)
                    ? ((YamlMappingNode)e).Children.ToDictionary(p => ((YamlScalarNode)p.Key).Value!, p => ((YamlScalarNode)p.Value).Value ?? "")
                    : [];
                return new Service(((YamlScalarNode)s.Key).Value!, List("command"), env, List("volumes"));
            });
    }

    private static async Task<(int Code, string Out, string Err)> DockerCompose(Dictionary<string, string> environment, params string[] args)
    {
        var psi = new ProcessStartInfo("docker-compose") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in (string[])["-f", s_compose, .. args])
        {
            psi.ArgumentList.Add(a);
        }

        foreach (var (k, v) in environment)
        {
            psi.Environment[k] = v;
        }

        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(s_timeout);
        await p.WaitForExitAsync(timeout.Token);
        return (p.ExitCode, await stdout, await stderr);
    }

    /// <summary>
    /// A service's address in an argument or value as this machine reaches it: "gateway:4050" anywhere, a bare
    /// "gateway" only where it is a host (<paramref name="bare"/>: the value of --host), not a role.
    /// </summary>
    private static string Local(string value, IEnumerable<string> services, bool bare)
    {
        foreach (var s in services)
        {
            if (bare && value == s)
            {
                return "127.0.0.1";
            }

            if (value.StartsWith(s + ":", StringComparison.Ordinal))
            {
                return "127.0.0.1" + value[s.Length..];
            }
        }

        return value;
    }

    /// <summary>A path inside the container as the directory mounted there: a bind mount's source, a named volume's stand-in.</summary>
    private static string Mount(string arg, string[] volumes, string cache)
    {
        foreach (var v in volumes)
        {
            var parts = v.Split(':');
            if (parts.Length >= 2 && arg.StartsWith(parts[1], StringComparison.Ordinal))
            {
                string source = parts[0].StartsWith('/') ? parts[0] : cache;
                return source + arg[parts[1].Length..];
            }
        }

        return arg;
    }

    /// <summary><paramref name="count"/> free ports, all different (every listener is held until all are chosen).</summary>
    private static string[] FreePorts(int count)
    {
        var listeners = Enumerable.Range(0, count).Select(_ => new TcpListener(IPAddress.Loopback, 0)).ToList();
        try
        {
            listeners.ForEach(l => l.Start());
            return [.. listeners.Select(l => ((IPEndPoint)l.LocalEndpoint).Port.ToString(System.Globalization.CultureInfo.InvariantCulture))];
        }
        finally
        {
            listeners.ForEach(l => l.Stop());
        }
    }

    private static bool OnPath(string command) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Any(d => File.Exists(Path.Combine(d, command)));
}
