using ActorLlm.Cluster.Hosting;
using ActorLlm.Cluster.Session.Internal;
using ActorLlm.Protocol;
using ActorLlm.Protocol.Messages;
using ActorLlm.Protocol.Serialization;
using Akka.Actor;
using Akka.Configuration;
using Xunit;

namespace ActorLlm.Cluster.Tests.Hosting;

/// <summary>
/// The largest messages the pool sends fit Akka.Remote's frame: a prompt chunk's activations (sessions cut chunks
/// to the payload bound) and a weight chunk. Proven by size and by sending them between two actor systems over TCP.
/// </summary>
public sealed class FrameSizeTests : IAsyncLifetime
{
    private static readonly Config s_config = ActorLlmConfig.Build(null, new Dictionary<string, string>
    {
        ["akka.remote.dot-netty.tcp.port"] = "0",
        ["akka.remote.dot-netty.tcp.hostname"] = "127.0.0.1",
        ["akka.actor.provider"] = "remote",
    }, _ => null);

    private static readonly long s_frame = s_config.GetByteSize("akka.remote.dot-netty.tcp.maximum-frame-size")!.Value;
    private static readonly WireLimits s_limits = WireLimits.From(s_config.GetConfig("actorllm.wire"));
    private ActorSystem _a = null!;
    private ActorSystem _b = null!;

    public static TheoryData<int> HiddenSizes => [64, 2048, 4096, 8192, 16384];

    [Theory]
    [MemberData(nameof(HiddenSizes))]
    public void The_largest_prompt_chunk_a_stage_forwards_fits_a_frame(int hidden)
    {
        // A long prompt cut as a session cuts it (the configured chunk, bounded by the payload limit), through a
        // route of 32 stages; the largest message is a chunk leaving the first stage: its activations in f32 (the
        // widest wire dtype), the rest of the route, and every stage's timing appended by the time it is last (its
        // batch size at the widest encoding).
        var someone = _a.ActorOf(Props.Create(() => new Echo()));
        var hops = Enumerable.Range(0, 32).Select(i => new RouteHop(someone, new UnitRange(i, i + 1))).ToArray();
        int chunk = StepPlan.ChunkTokens(ReferenceSettings.Value.Session.PrefillChunk, hidden, s_limits.MaxPayloadBytes);
        int[] prompt = [.. Enumerable.Repeat(7, 3 * chunk)];
        var steps = StepPlan.Run(new SessionId("big"), 1, hops, 0, prompt, chunk, WireSampling.Greedy, someone, StepKind.Generate);
        var first = steps[0];
        int tokens = first.TokenIds.Length;
        var forwarded = first with
        {
            Hidden = new TensorPayload(DType.F32, [tokens, hidden], new byte[(long)tokens * hidden * 4]),
            Timings = [.. hops.Select((_, i) => new StageTiming($"worker-{i}:cuda:0", 12.5, tokens, int.MaxValue))],
        };

        long size = new SerializerWithSize(_a).Size(forwarded);
        Assert.True(size < s_frame, $"{size} bytes exceed the {s_frame}-byte frame");

        // And the receiving side accepts it (the serializer validates every message as it is read).
        var back = _a.Serialization.Deserialize(
            _a.Serialization.FindSerializerFor(forwarded).ToBinary(forwarded), ActorLlmSerializer.SerializerId, ActorLlmSerializer.Manifests[typeof(StageMessages.Forward)]);
        Assert.Equal(tokens, ((StageMessages.Forward)back).Hidden!.Shape[0]);
    }

    [Fact]
    public async Task The_largest_activation_and_weight_chunk_cross_a_real_connection()
    {
        var echo = _b.ActorOf(Props.Create(() => new Echo()), "echo");
        var remoteEcho = await _a.ActorSelection(new RootActorPath(((ExtendedActorSystem)_b).Provider.DefaultAddress) / "user" / "echo").ResolveOne(TimeSpan.FromSeconds(10));

        int hidden = 4096;
        int tokens = (int)(s_limits.MaxPayloadBytes / (hidden * 4));
        var payload = new TensorPayload(DType.F32, [tokens, hidden], new byte[tokens * hidden * 4]);
        var forward = new StageMessages.Forward(
            new SessionId("big"), 1, new UnitRange(0, 3), 0, [.. Enumerable.Repeat(7, tokens)], payload,
            [new RouteHop(remoteEcho, new UnitRange(3, 6))], remoteEcho, StepKind.Prefill, WireSampling.Greedy, 0, 0, []);
        var serializer = (SerializerWithSize)new SerializerWithSize(_a);
        Assert.True(serializer.Size(forward) < s_frame, $"{serializer.Size(forward)} bytes exceed the {s_frame}-byte frame");
        var back = await remoteEcho.Ask<StageMessages.Forward>(forward, TimeSpan.FromSeconds(30));
        Assert.Equal(payload.Data.Length, back.Hidden!.Data.Length);

        var chunk = new WeightMessages.UnitChunk(1, 0, new byte[s_limits.MaxChunkBytes], s_limits.MaxChunkBytes);
        Assert.True(serializer.Size(chunk) < s_frame);
        var chunkBack = await remoteEcho.Ask<WeightMessages.UnitChunk>(chunk, TimeSpan.FromSeconds(30));
        Assert.Equal(s_limits.MaxChunkBytes, chunkBack.Data.Length);
    }

    public Task InitializeAsync()
    {
        _a = ActorSystem.Create("a", s_config);
        _b = ActorSystem.Create("b", s_config);
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        await _a.Terminate();
        await _b.Terminate();
    }

    private sealed class Echo : ReceiveActor
    {
        public Echo() => ReceiveAny(m => Sender.Tell(m));
    }

    private sealed class SerializerWithSize(ActorSystem system)
    {
        public long Size(object message) => system.Serialization.FindSerializerFor(message).ToBinary(message).LongLength;
    }
}
