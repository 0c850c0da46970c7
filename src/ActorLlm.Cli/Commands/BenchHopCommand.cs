using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using ActorLlm.Cli.Bench;
using ActorLlm.Cli.Pool;
using ActorLlm.Cluster.Hosting;
using ActorLlm.Cluster.Worker;
using ActorLlm.Inference.Execution;
using ActorLlm.Protocol;
using ActorLlm.Protocol.Messages;
using Akka.Actor;
using Akka.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using TorchSharp;

namespace ActorLlm.Cli.Commands;

/// <summary>
/// <c>actorllm bench-hop</c>: what one hop of a pipeline costs. Two processes on 127.0.0.1 (this one and a child it
/// starts), each an actor system with the pool's own configuration (reference.conf, the serializer, remoting and
/// clustering as <c>actorllm node</c> sets them up; <c>--set</c> changes any setting in both), pass a
/// <see cref="StageMessages.Forward"/> carrying one token's activation back and forth, one at a time, as a single job's
/// steps go through a pool. Each round trip is timed and halved into a one-way hop; then the parts of a hop that can be
/// timed alone are, in this process.
/// </summary>
public static class BenchHopCommand
{
    private const string UpMarker = "bench-hop echo up: ";
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(60);

    public static Command Create()
    {
        var roundTrips = new Option<int>("--round-trips") { Description = "Timed round trips per measurement", DefaultValueFactory = _ => 2000 };
        var warmup = new Option<int>("--warmup") { Description = "Round trips before timing (until the JIT has optimised the hot path: fewer leave its tier-up in the first figures)", DefaultValueFactory = _ => 10000 };
        var hidden = new Option<int>("--hidden") { Description = "Floats in the activation (2048 = 8 KB of f32)", DefaultValueFactory = _ => 2048 };
        var set = new Option<string[]>("--set") { Description = "A setting for both processes as path=value, e.g. akka.remote.dot-netty.tcp.batching.enabled=off (repeatable)" };
        var serve = new Option<string?>("--serve") { Description = "Internal: run the echo side, joining the given seed", Hidden = true };
        var command = new Command("bench-hop", "Measure one pipeline hop: a Forward with an activation between two processes on loopback")
        {
            roundTrips, warmup, hidden, set, serve,
        };
        command.SetAction(async (parse, _) =>
        {
            var overrides = Overrides(parse.GetValue(set) ?? []);
            if (parse.GetValue(serve) is string seed)
            {
                await ServeAsync(seed, overrides);
            }
            else
            {
                await RunAsync(parse.GetValue(roundTrips), parse.GetValue(warmup), parse.GetValue(hidden), parse.GetValue(set) ?? [], overrides);
            }

            return CliApp.ExitOk;
        });
        return command;
    }

    private static Dictionary<string, string> Overrides(string[] set)
    {
        var overrides = new Dictionary<string, string>();
        foreach (var pair in set)
        {
            int eq = pair.IndexOf('=');
            if (eq <= 0)
            {
                throw new Inference.InvalidRequestException($"--set '{pair}': expected path=value");
            }

            overrides[pair[..eq].Trim()] = pair[(eq + 1)..].Trim();
        }

        return overrides;
    }

    /// <summary>A node without roles (no model, no singleton): remoting and clustering exactly as a pool node has them.</summary>
    private static async Task<(IHost Host, ActorSystem System)> StartNodeAsync(Dictionary<string, string> overrides, int port, string seed)
    {
        // A benchmark's stderr is for what went wrong: the two nodes joining and leaving are noise.
        var all = new Dictionary<string, string> { ["akka.loglevel"] = "WARNING" };
        foreach (var (path, value) in overrides)
        {
            all[path] = value;
        }

        all = new Dictionary<string, string>(all)
        {
            ["actorllm.node.roles"] = "",
            ["actorllm.node.host"] = "127.0.0.1",
            ["actorllm.node.port"] = port.ToString(CultureInfo.InvariantCulture),
            ["actorllm.node.seeds"] = seed,
        };
        var settings = ActorLlmSettings.From(ActorLlmConfig.Build(null, all, _ => null));
        torch.set_num_threads(settings.Worker.TorchThreads);
        var host = new HostBuilder()
            .ConfigureLogging(l => l.AddActorLlmConsole(settings.Log))
            .ConfigureServices(s => s.AddAkka(ActorLlmSettings.SystemName, b => b.WithActorLlmNode(settings)))
            .Build();
        await host.StartAsync();
        var system = host.Services.GetRequiredService<ActorSystem>();
        var up = new TaskCompletionSource();
        Akka.Cluster.Cluster.Get(system).RegisterOnMemberUp(() => up.TrySetResult());
        await up.Task.WaitAsync(s_timeout);
        return (host, system);
    }

    /// <summary>The child: the two echoes, until the parent closes standard input.</summary>
    private static async Task ServeAsync(string seed, Dictionary<string, string> overrides)
    {
        var (host, system) = await StartNodeAsync(overrides, 0, seed);
        system.ActorOf(Props.Create(() => new HopActors.Echo()), "echo");
        system.ActorOf(Props.Create(() => new HopActors.StageEcho()).WithDispatcher(StageWorker.DispatcherId), "stage");
        Console.Out.WriteLine(UpMarker + Akka.Cluster.Cluster.Get(system).SelfAddress);
        Console.Out.Flush();
        await Console.In.ReadToEndAsync();
        await host.StopAsync();
        host.Dispose();
    }

    private static async Task RunAsync(int roundTrips, int warmup, int hidden, string[] set, Dictionary<string, string> overrides)
    {
        var inv = CultureInfo.InvariantCulture;
        int port = FreePort();
        string seed = $"127.0.0.1:{port}";
        var (host, system) = await StartNodeAsync(overrides, port, seed);
        using var child = StartEchoProcess(seed, set);
        try
        {
            var echoAddress = await ReadUpLine(child);
            var remoteEcho = await system.ActorSelection($"{echoAddress}/user/echo").ResolveOne(s_timeout);
            var remoteStage = await system.ActorSelection($"{echoAddress}/user/stage").ResolveOne(s_timeout);
            var pinger = system.ActorOf(Props.Create(() => new HopActors.Pinger()), "pinger");
            var stagePinger = system.ActorOf(Props.Create(() => new HopActors.Pinger()).WithDispatcher(StageWorker.DispatcherId), "stage-pinger");
            var localStage = system.ActorOf(Props.Create(() => new HopActors.StageEcho()).WithDispatcher(StageWorker.DispatcherId), "local-stage");

            using var activation = torch.randn(1, hidden);
            var payload = TensorCodec.ToPayload(activation, activation.dtype);
            StageMessages.Forward Step(IActorRef replyTo) => new(
                SessionId.New(), 1, new UnitRange(3, 5), 17, [42], payload, [new RouteHop(replyTo, new UnitRange(5, 7))], replyTo,
                StepKind.Generate, WireSampling.Greedy, 0, 0, [new StageTiming("worker-1:cpu", 1.25, 1, 1)]);

            var (serializer, bytes) = HopComponents.Serializer(system, Step(pinger), roundTrips);
            Report($"# bench-hop: Forward with a [1, {hidden}] f32 activation ({payload.Data.Length} bytes; {bytes} bytes serialized), {roundTrips} round trips after {warmup} warm-up, one at a time");
            Report($"# 2 processes on 127.0.0.1 ({echoAddress}), {Environment.ProcessorCount} cores, settings: {(set.Length == 0 ? "reference.conf" : string.Join(" ", set))}");
            Report("one-way hop (round trip / 2), microseconds                     median      p90      p99     mean   CPU (both processes)");

            async Task Remote(string label, IActorRef from, IActorRef to)
            {
                var message = Step(from);
                await RoundTrips(from, to, message, warmup);
                var cpu = ProcessorTime(child);
                var ticks = await RoundTrips(from, to, message, roundTrips);
                double cpuPerHop = (ProcessorTime(child) - cpu).TotalMicroseconds / (2.0 * roundTrips);
                Line(label, Percentiles.Of(ticks, 2), cpuPerHop);
            }

            await Remote("remote, default dispatcher <-> echo", pinger, remoteEcho);
            await Remote("remote, default dispatcher <-> stage", pinger, remoteStage);
            await Remote("remote, stage <-> stage", stagePinger, remoteStage);
            Report("parts of a hop, timed alone in this process, microseconds");
            await Remote("local, default dispatcher <-> stage (codec, no wire)", pinger, localStage);
            Line("serializer: Forward to bytes and back", serializer);
            var ring = Step(pinger) with
            {
                Loop = 100,
                Ring = [new RouteHop(pinger, new UnitRange(0, 3)), new RouteHop(remoteStage, new UnitRange(3, 5)), new RouteHop(remoteEcho, new UnitRange(5, 7))],
            };
            var (ringSerializer, ringBytes) = HopComponents.Serializer(system, ring, roundTrips);
            Line($"serializer: the same with a 3-stage ring route (+{ringBytes - bytes} bytes)", ringSerializer);
            Line("TensorCodec: tensor to payload, payload to tensor", HopComponents.Codec(hidden, roundTrips));
            Line($"TCP on 127.0.0.1, {bytes} bytes (round trip / 2)", HopComponents.Tcp(bytes, roundTrips));
        }
        finally
        {
            child.StandardInput.Close();
            if (!child.WaitForExit(10_000))
            {
                child.Kill(entireProcessTree: true);
            }

            await host.StopAsync();
            host.Dispose();
        }

        void Line(string label, Percentiles p, double? cpu = null) =>
            Report(string.Create(inv, $"  {label,-60} {p.Median,8:F1} {p.P90,8:F1} {p.P99,8:F1} {p.Mean,8:F1}{(cpu is double c ? $" {c,8:F1}" : "")}"));
    }

    /// <summary>CPU time used so far by this process and the echo process together.</summary>
    private static TimeSpan ProcessorTime(Process child)
    {
        child.Refresh();
        using var self = Process.GetCurrentProcess();
        return self.TotalProcessorTime + child.TotalProcessorTime;
    }

    private static async Task<long[]> RoundTrips(IActorRef pinger, IActorRef target, StageMessages.Forward message, int count)
    {
        var done = new TaskCompletionSource<long[]>(TaskCreationOptions.RunContinuationsAsynchronously);
        pinger.Tell(new HopActors.Run(target, message, count, done));
        return await done.Task.WaitAsync(s_timeout);
    }

    private static Process StartEchoProcess(string seed, string[] set)
    {
        var psi = NodeProcess.SelfCommand();
        foreach (var a in (string[])["bench-hop", "--serve", seed, .. set.SelectMany(s => new[] { "--set", s })])
        {
            psi.ArgumentList.Add(a);
        }

        psi.RedirectStandardInput = true;
        psi.RedirectStandardOutput = true;
        psi.UseShellExecute = false;
        return Process.Start(psi) ?? throw new InvalidOperationException("could not start the echo process");
    }

    private static async Task<string> ReadUpLine(Process child)
    {
        using var timeout = new CancellationTokenSource(s_timeout);
        while (await child.StandardOutput.ReadLineAsync(timeout.Token) is string line)
        {
            if (line.StartsWith(UpMarker, StringComparison.Ordinal))
            {
                return line[UpMarker.Length..].Trim();
            }
        }

        throw new InvalidOperationException($"the echo process exited (code {child.ExitCode}) before it was up");
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static void Report(string line)
    {
        Console.Out.WriteLine(line);
        Console.Out.Flush();
    }
}
