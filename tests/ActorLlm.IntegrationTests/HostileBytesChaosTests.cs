using System.Net.Sockets;
using Xunit;
using Xunit.Abstractions;

namespace ActorLlm.IntegrationTests;

/// <summary>
/// Hostile bytes at a plain-TCP cluster port (random frames, huge and negative length prefixes, one connection
/// each): the node stays up, jobs keep their text, and the log gets one line per kind of abuse and peer per
/// actorllm.log.abuse-window, not one per connection (before: 308 lines, 216 KB for 200 connections). Issue 12.
/// </summary>
public sealed class HostileBytesChaosTests(ITestOutputHelper output) : PoolTestBase(output)
{
    [Fact]
    public Task Three_hundred_hostile_connections_cost_a_few_log_lines_and_no_job() => WithLogs(async () =>
    {
        var (pool, client) = await StartPoolAsync(workers: 1);
        var gateway = pool.Nodes.Single(n => n.Name == "gateway");
        long before = new FileInfo(gateway.LogPath).Length;
        var random = new Random(7);
        for (int i = 0; i < 300; i++)
        {
            using var socket = new TcpClient();
            await socket.ConnectAsync("127.0.0.1", pool.GatewayPort);
            var bytes = new byte[i % 3 == 0 ? 300 : 104];
            random.NextBytes(bytes);
            if (i % 3 == 1)
            {
                bytes[0] = 0x7f; // a length prefix of about 2 GiB
            }
            else if (i % 3 == 2)
            {
                bytes[0] = 0xff; // a negative one
            }

            await socket.GetStream().WriteAsync(bytes);
        }

        // Still serving, with the single-process text (the job also orders the log: it ends after the attack's lines).
        var options = Greedy(24);
        Assert.Equal(SingleProcess("Once upon a time", options), (await client.GenerateAsync("Once upon a time", options, null, Timeout)).Text);
        string log;
        using (var reader = new StreamReader(new FileStream(gateway.LogPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite)))
        {
            reader.BaseStream.Seek(before, SeekOrigin.Begin);
            log = await reader.ReadToEndAsync();
        }

        var transport = log.Split('\n').Where(l => l.Contains("Akka.Remote.Transport", StringComparison.Ordinal)).ToList();
        Output.WriteLine($"{transport.Count} transport lines, {log.Length} bytes of log for 300 hostile connections");
        Assert.InRange(transport.Count, 1, 6);
        Assert.True(log.Length < 20_000, $"{log.Length} bytes of log");
    });
}
