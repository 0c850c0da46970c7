using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using ActorLlm.Inference.Execution;
using ActorLlm.Protocol.Messages;
using Akka.Actor;
using Akka.Serialization;
using static TorchSharp.torch;

namespace ActorLlm.Cli.Bench;

/// <summary>Median, 90th and 99th percentile and mean of a sample, in microseconds (the mean is what a job's steps add up to).</summary>
internal readonly record struct Percentiles(double Median, double P90, double P99, double Mean)
{
    /// <param name="ticks"><see cref="Stopwatch"/> ticks per sample.</param>
    /// <param name="divide">What each sample covers: 2 for a round trip reported per one-way hop.</param>
    public static Percentiles Of(long[] ticks, double divide = 1)
    {
        var sorted = ticks.Select(t => t * 1e6 / Stopwatch.Frequency / divide).Order().ToArray();
        double At(double q) => sorted[Math.Min(sorted.Length - 1, (int)(q * sorted.Length))];
        return new Percentiles(At(0.5), At(0.9), At(0.99), sorted.Average());
    }
}

/// <summary>
/// The parts of a hop that can be timed alone, in this process: the serializer's round trip of the message, the
/// activation's copies in and out of a tensor, a hand-off between dispatchers, and loopback TCP itself.
/// </summary>
internal static class HopComponents
{
    /// <summary>ActorLlmSerializer (the system's binding for the message) to bytes and back, validation included; and the serialized size.</summary>
    public static (Percentiles Time, int Bytes) Serializer(ActorSystem system, StageMessages.Forward message, int iterations)
    {
        var serializer = (SerializerWithStringManifest)system.Serialization.FindSerializerFor(message);
        string manifest = serializer.Manifest(message);
        int size = serializer.ToBinary(message).Length;
        return (Time(iterations, () => serializer.FromBinary(serializer.ToBinary(message), manifest)), size);
    }

    /// <summary>An activation of <paramref name="hidden"/> floats from a tensor to its payload and into a new tensor, as one stage sends and the next receives it.</summary>
    public static Percentiles Codec(int hidden, int iterations)
    {
        using var output = randn(1, hidden);
        return Time(iterations, () =>
        {
            var payload = TensorCodec.ToPayload(output, output.dtype);
            TensorCodec.FromPayload(payload).Dispose();
        });
    }

    /// <summary>Round trips through a TCP connection on 127.0.0.1 between two threads of this process, <paramref name="bytes"/> each way, halved.</summary>
    public static Percentiles Tcp(int bytes, int iterations)
    {
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(1);
        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        client.Connect(listener.LocalEndPoint!);
        using var server = listener.Accept();
        server.NoDelay = true;
        var echo = new Thread(() =>
        {
            var buffer = new byte[bytes];
            for (int i = 0; i < iterations; i++)
            {
                Receive(server, buffer);
                server.Send(buffer);
            }
        })
        { IsBackground = true, Name = "bench-hop tcp echo" };
        echo.Start();
        var message = new byte[bytes];
        var answer = new byte[bytes];
        var ticks = new long[iterations];
        for (int i = 0; i < iterations; i++)
        {
            long start = Stopwatch.GetTimestamp();
            client.Send(message);
            Receive(client, answer);
            ticks[i] = Stopwatch.GetTimestamp() - start;
        }

        echo.Join();
        return Percentiles.Of(ticks, 2);
    }

    private static void Receive(Socket socket, byte[] buffer)
    {
        for (int read = 0; read < buffer.Length;)
        {
            int n = socket.Receive(buffer, read, buffer.Length - read, SocketFlags.None);
            read += n > 0 ? n : throw new IOException("the echo connection closed");
        }
    }

    private static Percentiles Time(int iterations, Action action)
    {
        // Warm for a while, not a count: the JIT replaces a method's first code only some 100 ms after it got hot, and
        // what is measured should be the optimised code that a pool runs.
        var warm = Stopwatch.StartNew();
        while (warm.Elapsed < TimeSpan.FromSeconds(1))
        {
            action();
        }

        var ticks = new long[iterations];
        for (int i = 0; i < iterations; i++)
        {
            long start = Stopwatch.GetTimestamp();
            action();
            ticks[i] = Stopwatch.GetTimestamp() - start;
        }

        return Percentiles.Of(ticks);
    }
}
