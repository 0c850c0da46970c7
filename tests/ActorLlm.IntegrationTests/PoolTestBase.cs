using System.Collections.Concurrent;
using System.Diagnostics;
using ActorLlm.Cli.Pool;
using ActorLlm.Cluster.Client;
using ActorLlm.Inference.Devices;
using ActorLlm.Inference.Execution;
using ActorLlm.Inference.Generation;
using ActorLlm.Protocol.Messages;
using Xunit;
using Xunit.Abstractions;

[assembly: CollectionBehavior(DisableTestParallelization = true)]

namespace ActorLlm.IntegrationTests;

/// <summary>
/// Starts pools of real `actorllm node` processes on 127.0.0.1 with the bundled model, and computes what a single
/// process generates for comparison. Logs of every node are printed when a test fails.
/// </summary>
public abstract class PoolTestBase(ITestOutputHelper output) : IAsyncLifetime
{
    protected static readonly TimeSpan Timeout = TimeSpan.FromSeconds(120);
    private readonly List<LocalPool> _pools = [];
    private readonly List<PoolClient> _clients = [];

    protected ITestOutputHelper Output { get; } = output;

    protected static string Model => Path.Combine(AppContext.BaseDirectory, "models", "stories260K");

    /// <summary>The model the gateway of a pool from StartPoolAsync (and workers given one) serve: the bundled one unless a test class says otherwise.</summary>
    protected virtual string PoolModel => Model;

    protected string WorkDir { get; } = Path.Combine(Path.GetTempPath(), "actorllm-it-" + Guid.NewGuid().ToString("N")[..8]);

    /// <summary>A gateway plus <paramref name="workers"/> workers named worker-1.., all placed and serving.</summary>
    protected Task<(LocalPool Pool, PoolClient Client)> StartPoolAsync(int workers, int redundancy = 1, bool workersHaveModel = true, params string[] gatewayArgs) =>
        StartPoolAsync(Enumerable.Repeat(Array.Empty<string>(), workers).ToList(), redundancy, workersHaveModel, gatewayArgs);

    /// <summary>A gateway plus one worker per entry of <paramref name="workerArgs"/> (its extra node arguments), named worker-1.., all placed and serving.</summary>
    protected async Task<(LocalPool Pool, PoolClient Client)> StartPoolAsync(IReadOnlyList<string[]> workerArgs, int redundancy = 1, bool workersHaveModel = true, params string[] gatewayArgs)
    {
        int workers = workerArgs.Count;
        var pool = await LocalPool.StartAsync(new LocalPoolOptions(PoolModel, Path.Combine(WorkDir, "pool" + _pools.Count), redundancy, ExtraNodeArgs: null, GatewayArgs: gatewayArgs), Timeout);
        _pools.Add(pool);
        await Task.WhenAll(workerArgs.Select((extra, i) => pool.AddWorkerAsync($"worker-{i + 1}", Timeout, workersHaveModel, extra)));
        var client = await ConnectAsync(pool);

        // Every worker serving, not only the plan in place: a plan made before the last worker registered serves
        // too, and the re-plan that gives the late worker its layers comes a settle period later.
        await client.WaitForAsync(s => s.Devices.Length == workers && s.ServesPlan() && s.Devices.All(d => d.Serving is not null), Timeout);
        return (pool, client);
    }

    /// <summary>
    /// A gateway plus <paramref name="workers"/> workers, all placed and serving, with no cluster client: only the
    /// gateway's HTTP API is used (a client that joins is a member, and would count in the split-brain resolver).
    /// </summary>
    protected async Task<LocalPool> StartHttpPoolAsync(int workers, int redundancy = 1, params string[] gatewayArgs)
    {
        var pool = await LocalPool.StartAsync(new LocalPoolOptions(Model, Path.Combine(WorkDir, "pool" + _pools.Count), redundancy, ExtraNodeArgs: null, GatewayArgs: gatewayArgs), Timeout);
        _pools.Add(pool);
        await Task.WhenAll(Enumerable.Range(1, workers).Select(i => pool.AddWorkerAsync($"worker-{i}", Timeout)));
        using var api = new Cli.Http.GatewayClient(pool.ApiUrl, pool.ApiKey, Timeout);
        await api.WaitForAsync(s => s.Devices.Length == workers && s.ServesPlan() && s.Devices.All(d => d.Serving is not null), Timeout, TimeSpan.FromMilliseconds(200));
        return pool;
    }

    /// <summary>Disposes <paramref name="pool"/> with the test's own, and prints its logs if the test fails.</summary>
    protected LocalPool Track(LocalPool pool)
    {
        _pools.Add(pool);
        return pool;
    }

    protected async Task<PoolClient> ConnectAsync(LocalPool pool)
    {
        var client = await PoolClient.ConnectAsync(pool.Seed, Timeout, settings: pool.ClientSettings());
        _clients.Add(client);
        return client;
    }

    /// <summary>Waits until <paramref name="devices"/> devices are registered and each serves what the plan assigned it.</summary>
    protected static Task<StatusMessages.ClusterStatus> WaitPlacedAsync(PoolClient client, int devices, long afterRouteVersion = 0) =>
        client.WaitForAsync(
            s => s.Devices.Length == devices
                && s.RouteVersion > afterRouteVersion
                && s.ServesPlan(),
            Timeout);

    protected static WireGenerationOptions Greedy(int maxTokens, bool stopAtEos = true) => new(maxTokens, WireSampling.Greedy, [], stopAtEos);

    private static readonly Lazy<LocalGenerator> s_local = new(() => LocalGenerator.Load(Model, ComputeTarget.Cpu, new KvCacheOptions(1, 512)));
    private static readonly Lock s_localLock = new();

    /// <summary>What one process generates with the same model and options (the reference every pool must match).</summary>
    protected static string SingleProcess(string prompt, WireGenerationOptions o)
    {
        lock (s_localLock)
        {
            return s_local.Value.Generate(prompt, WireOptions.ToOptions(o)).Text;
        }
    }

    /// <summary>What one process scores for the same choices, best first.</summary>
    protected static IReadOnlyList<ChoiceScore> ScoreSingleProcess(string prompt, IReadOnlyList<string> choices)
    {
        lock (s_localLock)
        {
            return s_local.Value.Score(prompt, choices);
        }
    }

    /// <summary>A generation whose text arrival times are recorded (for stall measurements).</summary>
    protected sealed class Recorded
    {
        private readonly Stopwatch _clock = Stopwatch.StartNew();

        public ConcurrentQueue<(TimeSpan At, string Text)> Deltas { get; } = new();

        public ConcurrentQueue<JobMessages.JobRouted> Routes { get; } = new();

        public TaskCompletionSource<JobMessages.JobRouted> FirstRoute { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public void OnText(string text) => Deltas.Enqueue((_clock.Elapsed, text));

        public void OnRouted(JobMessages.JobRouted r)
        {
            Routes.Enqueue(r);
            FirstRoute.TrySetResult(r);
        }

        public int TextPieces => Deltas.Count;

        /// <summary>The longest time between two consecutive pieces of text.</summary>
        public TimeSpan LongestGap() =>
            Deltas.Zip(Deltas.Skip(1)).Select(p => p.Second.At - p.First.At).DefaultIfEmpty(TimeSpan.Zero).Max();
    }

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (var c in _clients)
        {
            await c.DisposeAsync();
        }

        foreach (var p in _pools)
        {
            await p.DisposeAsync();
        }

        try
        {
            // ACTORLLM_KEEP_TEST_DIRS=1 keeps the nodes' logs and directories for a look after a failure.
            if (Environment.GetEnvironmentVariable("ACTORLLM_KEEP_TEST_DIRS") is null)
            {
                Directory.Delete(WorkDir, recursive: true);
            }
        }
        catch (IOException)
        {
            // A node still closing its log; the temp directory is cleaned by the OS eventually.
        }
    }

    /// <summary>Runs <paramref name="test"/>; on failure prints every node's log tail.</summary>
    protected async Task WithLogs(Func<Task> test)
    {
        try
        {
            await test();
        }
        catch
        {
            foreach (var p in _pools)
            {
                Output.WriteLine(p.Logs());
            }

            throw;
        }
    }
}
