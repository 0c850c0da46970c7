using ActorLlm.Protocol;
using ActorLlm.Protocol.Messages;
using ActorLlm.Protocol.Serialization;
using Akka.Actor;
using Akka.Configuration;
using Akka.Serialization;
using Akka.TestKit.Xunit2;
using Xunit;

namespace ActorLlm.Cluster.Tests.Protocol;

/// <summary>Every wire message is bound to our serializer and survives a round trip; bad bytes are refused.</summary>
public class SerializerTests : TestKit
{
    public SerializerTests()
        : base(ConfigurationFactory.ParseString(ProtocolConfig.Hocon))
    {
    }

    private Serialization Serialization => Sys.Serialization;

    public static TheoryData<string> AllManifests => [.. ActorLlmSerializer.Manifests.Values];

    [Fact]
    public void Every_message_type_in_the_protocol_assembly_has_a_manifest_and_a_sample()
    {
        var types = typeof(IActorLlmMessage).Assembly.GetTypes()
            .Where(t => typeof(IActorLlmMessage).IsAssignableFrom(t) && !t.IsInterface && !t.IsAbstract)
            .ToHashSet();
        Assert.Equal(types.OrderBy(t => t.FullName), ActorLlmSerializer.Manifests.Keys.OrderBy(t => t.FullName));
        var samples = WireSamples.All(TestActor).Select(s => s.GetType()).ToHashSet();
        Assert.Equal(types.OrderBy(t => t.FullName), samples.OrderBy(t => t.FullName));
    }

    [Theory]
    [MemberData(nameof(AllManifests))]
    public void Message_is_bound_to_the_actorllm_serializer_and_round_trips(string manifest)
    {
        var message = WireSamples.All(TestActor).Single(m => ActorLlmSerializer.Manifests[m.GetType()] == manifest);
        var serializer = Serialization.FindSerializerFor(message);
        Assert.IsType<ActorLlmSerializer>(serializer);
        Assert.Equal(manifest, ((SerializerWithStringManifest)serializer).Manifest(message));

        byte[] bytes = serializer.ToBinary(message);
        object back = Serialization.Deserialize(bytes, ActorLlmSerializer.SerializerId, manifest);
        Assert.IsType(message.GetType(), back);

        // Records holding arrays compare arrays by reference, so compare what they serialize to.
        Assert.Equal(bytes, serializer.ToBinary(back));
    }

    [Fact]
    public void Actor_refs_resolve_to_the_same_actor()
    {
        var message = new StageMessages.ReleaseSession(SessionId.New());
        var forward = WireSamples.Forward(TestActor, hidden: null);
        var serializer = Serialization.FindSerializerFor(forward);
        var back = (StageMessages.Forward)Serialization.Deserialize(serializer.ToBinary(forward), ActorLlmSerializer.SerializerId, "s.fwd");
        Assert.Equal(TestActor, back.ReplyTo);
        back.ReplyTo.Tell(message);
        ExpectMsg(message);
    }

    [Fact]
    public void A_ring_step_keeps_its_loop_route_and_origin_and_one_without_a_route_or_of_another_kind_is_refused()
    {
        var ring = WireSamples.All(TestActor).OfType<StageMessages.Forward>().Single();
        var back = (StageMessages.Forward)RoundTrip(ring);
        Assert.Equal((5, true), (back.Loop, back.FromRing));
        Assert.Equal(ring.Ring, back.Ring);

        var plain = (StageMessages.Forward)RoundTrip(WireSamples.Forward(TestActor, null));
        Assert.Equal((0, null, false), (plain.Loop, plain.Ring, plain.FromRing));

        Assert.Contains("ring", Flatten(Assert.ThrowsAny<Exception>(() => RoundTrip(ring with { Ring = null }))));
        Assert.Contains("ring", Flatten(Assert.ThrowsAny<Exception>(() => RoundTrip(ring with { Ring = [] }))));
        Assert.Contains("ring", Flatten(Assert.ThrowsAny<Exception>(() => RoundTrip(ring with { Kind = StepKind.Prefill }))));
        Assert.Contains("ring", Flatten(Assert.ThrowsAny<Exception>(() => RoundTrip(plain with { Loop = -1 }))));
    }

    [Fact]
    public void Unknown_manifest_is_refused()
    {
        var error = Assert.ThrowsAny<Exception>(() => Serialization.Deserialize([0x90], ActorLlmSerializer.SerializerId, "x.unknown"));
        Assert.Contains("unknown message manifest", Flatten(error));
    }

    [Fact]
    public void Garbage_bytes_are_refused_as_malformed()
    {
        var error = Assert.ThrowsAny<Exception>(() => Serialization.Deserialize([0xC1, 0xFF, 0x00], ActorLlmSerializer.SerializerId, "s.fwd"));
        Assert.Contains("malformed", Flatten(error));
    }

    [Fact]
    public void Enum_values_this_node_does_not_know_are_refused()
    {
        var samples = WireSamples.All(TestActor);
        var routes = samples.OfType<PlacementMessages.RouteTable>().Single();
        var done = samples.OfType<JobMessages.GenerationCompleted>().Single();
        var register = samples.OfType<PlacementMessages.RegisterDevice>().Single();
        Assert.Contains("placement status", Flatten(Assert.ThrowsAny<Exception>(() => RoundTrip(routes with { Status = (PlacementStatus)42 }))));
        Assert.Contains("finish reason", Flatten(Assert.ThrowsAny<Exception>(() => RoundTrip(done with { FinishReason = (FinishReason)42 }))));
        Assert.Contains("step kind", Flatten(Assert.ThrowsAny<Exception>(() => RoundTrip(WireSamples.Forward(TestActor, null) with { Kind = (StepKind)42 }))));
        Assert.Contains("dtype", Flatten(Assert.ThrowsAny<Exception>(() => RoundTrip(register with { Device = register.Device with { DType = (DType)42 } }))));
    }

    [Fact]
    public void A_step_whose_sampling_is_out_of_its_domain_is_refused()
    {
        var step = WireSamples.Forward(TestActor, null);
        Assert.Contains("temperature", Flatten(Assert.ThrowsAny<Exception>(() => RoundTrip(step with { Sampling = step.Sampling with { Temperature = float.NaN } }))));
        Assert.Contains("top-p", Flatten(Assert.ThrowsAny<Exception>(() => RoundTrip(step with { Sampling = step.Sampling with { TopP = 0 } }))));
        Assert.IsType<StageMessages.Forward>(RoundTrip(step));
    }

    [Fact]
    public void Identities_travel_as_their_types()
    {
        var register = WireSamples.All(TestActor).OfType<PlacementMessages.RegisterDevice>().Single();
        var back = (PlacementMessages.RegisterDevice)RoundTrip(register);
        Assert.Equal(register.Device.Key, back.Device.Key);
        Assert.Equal(new DeviceKey(new NodeAddress("akka.tcp://actorllm@127.0.0.1:5001"), "cpu"), back.Device.Key);
        Assert.Equal("cpu@akka.tcp://actorllm@127.0.0.1:5001", back.Device.Key.ToString());
        Assert.Equal(register.ModelId, back.ModelId);
        Assert.Contains("node address", Flatten(Assert.ThrowsAny<Exception>(() => RoundTrip(register with { Device = register.Device with { Node = default } }))));
    }

    [Fact]
    public void Tensor_whose_bytes_do_not_match_its_shape_is_refused()
    {
        var bad = WireSamples.Forward(TestActor, new TensorPayload(DType.F32, [2, 8], new byte[60]));
        var error = Assert.ThrowsAny<Exception>(() => RoundTrip(bad));
        Assert.Contains("needs 64 bytes but carries 60", Flatten(error));
    }

    [Fact]
    public void Tensor_with_an_unknown_dtype_or_bad_shape_is_refused()
    {
        Assert.Contains("dtype", Flatten(Assert.ThrowsAny<Exception>(() => RoundTrip(WireSamples.Forward(TestActor, new TensorPayload((DType)99, [2, 8], new byte[128]))))));
        Assert.Contains("shape", Flatten(Assert.ThrowsAny<Exception>(() => RoundTrip(WireSamples.Forward(TestActor, new TensorPayload(DType.F32, [2, -8], new byte[64]))))));
        Assert.Contains("must be [2, hidden]", Flatten(Assert.ThrowsAny<Exception>(() => RoundTrip(WireSamples.Forward(TestActor, new TensorPayload(DType.F32, [3, 8], new byte[96]))))));
    }

    [Fact]
    public void Oversized_tensor_prompt_and_chunk_are_refused()
    {
        var limits = WireLimits.Default;
        int rows = 2, cols = (int)(limits.MaxPayloadBytes / 4 / rows) + 1;
        var huge = WireSamples.Forward(TestActor, new TensorPayload(DType.F32, [rows, cols], new byte[rows * cols * 4]));
        Assert.Contains("exceeds", Flatten(Assert.ThrowsAny<Exception>(() => RoundTrip(huge))));

        var prompt = new JobMessages.StartGeneration(SessionId.New(), new byte[limits.MaxPromptBytes + 1], WireSamples.Options, TestActor);
        Assert.Contains("prompt bytes", Flatten(Assert.ThrowsAny<Exception>(() => RoundTrip(prompt))));

        var chunk = new WeightMessages.UnitChunk(1, 0, new byte[limits.MaxChunkBytes + 1], 10);
        Assert.Contains("chunk bytes", Flatten(Assert.ThrowsAny<Exception>(() => RoundTrip(chunk))));

        var fileChunk = new WeightMessages.FileChunk("tokenizer.json", 0, new byte[limits.MaxChunkBytes + 1], 10);
        Assert.Contains("chunk bytes", Flatten(Assert.ThrowsAny<Exception>(() => RoundTrip(fileChunk))));
        var fileRequest = new WeightMessages.FetchFileChunk("tokenizer.json", 0, limits.MaxChunkBytes + 1);
        Assert.Contains("file chunk request", Flatten(Assert.ThrowsAny<Exception>(() => RoundTrip(fileRequest))));
        var manifest = new WeightMessages.ManifestReply(new byte[limits.MaxPayloadBytes + 1]);
        Assert.Contains("manifest bytes", Flatten(Assert.ThrowsAny<Exception>(() => RoundTrip(manifest))));
    }

    [Fact]
    public void Audit_steps_and_answers_out_of_shape_are_refused()
    {
        // An audit step reports rows from ChoiceStart to the one before its last token: it needs a token after the first.
        var oneToken = WireSamples.Forward(TestActor, null) with { Kind = StepKind.Audit, TokenIds = [7], ChoiceStart = 0 };
        Assert.Contains("audit step", Flatten(Assert.ThrowsAny<Exception>(() => RoundTrip(oneToken))));
        var pastTheEnd = WireSamples.Forward(TestActor, null) with { Kind = StepKind.Audit, TokenIds = [7, 8], ChoiceStart = 1 };
        Assert.Contains("audit step", Flatten(Assert.ThrowsAny<Exception>(() => RoundTrip(pastTheEnd))));
        Assert.IsType<StageMessages.Forward>(RoundTrip(WireSamples.Forward(TestActor, null) with { Kind = StepKind.Audit, TokenIds = [7, 8], ChoiceStart = 0 }));

        var session = new SessionId("s1");
        var mismatched = new StageMessages.Audited(session, 1, 0, [new TokenLogprobs(-1, [1, 2], [-1])], []);
        Assert.Contains("one log-probability each", Flatten(Assert.ThrowsAny<Exception>(() => RoundTrip(mismatched))));
        var tooMany = new StageMessages.Audited(session, 1, 0, [new TokenLogprobs(-1, [.. Enumerable.Range(0, 21)], [.. Enumerable.Repeat(-1f, 21)])], []);
        Assert.Contains("one log-probability each", Flatten(Assert.ThrowsAny<Exception>(() => RoundTrip(tooMany))));
    }

    [Fact]
    public void A_message_missing_required_fields_is_refused()
    {
        var noIds = WireSamples.Forward(TestActor, null) with { TokenIds = null! };
        Assert.Contains("token ids", Flatten(Assert.ThrowsAny<Exception>(() => RoundTrip(noIds))));
    }

    [Fact]
    public void The_json_serializer_id_is_refused_both_ways()
    {
        Assert.IsType<RefusingJsonSerializer>(Serialization.FindSerializerForType(typeof(object)));
        Assert.ThrowsAny<Exception>(() => Serialization.Deserialize("{\"$type\":\"System.IO.FileInfo, System.IO\"}"u8.ToArray(), 1, typeof(object)));
        Assert.ThrowsAny<Exception>(() => Serialization.FindSerializerFor(new UnboundMessage("x")).ToBinary(new UnboundMessage("x")));
    }

    private object RoundTrip(object message)
    {
        var serializer = Serialization.FindSerializerFor(message);
        return Serialization.Deserialize(serializer.ToBinary(message), ActorLlmSerializer.SerializerId, ActorLlmSerializer.Manifests[message.GetType()]);
    }

    private static string Flatten(Exception e) => e.InnerException is null ? e.Message : e.Message + " | " + Flatten(e.InnerException);

    private sealed record UnboundMessage(string Text);
}
