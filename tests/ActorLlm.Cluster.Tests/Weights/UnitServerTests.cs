using ActorLlm.Cluster.Weights;
using ActorLlm.Inference.Checkpoints;
using ActorLlm.Protocol.Messages;
using ActorLlm.Protocol.Serialization;
using Akka.Actor;
using Akka.TestKit.Xunit2;
using Xunit;

namespace ActorLlm.Cluster.Tests.Weights;

/// <summary>A UnitServer answers every request, with the store's bytes or with a reason; it never goes silent.</summary>
public sealed class UnitServerTests : TestKit
{
    private readonly TempDir _dir = new();
    private readonly UnitStore _store;

    public UnitServerTests()
        : base(WeightsConfig.Local)
    {
        _store = TestModels.ConvertStories(_dir["store"]);
    }

    private IActorRef Server(UnitStore? store, WireLimits? limits = null) =>
        Sys.ActorOf(UnitServer.Props(store, limits ?? WireLimits.Default));

    [Fact]
    public void Manifest_reply_carries_the_manifest_only_and_side_files_come_in_chunks()
    {
        var server = Server(_store);
        server.Tell(new WeightMessages.FetchManifest());
        var reply = ExpectMsg<WeightMessages.ManifestReply>();

        var manifest = StoreManifest.Parse(reply.ManifestJson, "reply");
        Assert.True(UnitStore.SameUnits(_store.Manifest, manifest));
        Assert.Contains(manifest.Files, f => f.Name == "tokenizer.json");
        foreach (var entry in manifest.Files)
        {
            byte[] file = File.ReadAllBytes(Path.Combine(_store.Directory, entry.Name));
            var assembled = new byte[entry.Bytes];
            for (long offset = 0; offset < entry.Bytes; offset += 1000)
            {
                server.Tell(new WeightMessages.FetchFileChunk(entry.Name, offset, 1000));
                var chunk = ExpectMsg<WeightMessages.FileChunk>();
                Assert.Equal((entry.Name, offset, entry.Bytes), (chunk.Name, chunk.Offset, chunk.TotalBytes));
                chunk.Data.CopyTo(assembled, offset);
            }

            Assert.Equal(file, assembled);
        }
    }

    [Fact]
    public void File_chunks_outside_the_manifest_or_its_bounds_are_refused_with_a_reason()
    {
        var server = Server(_store, WireLimits.Default with { MaxChunkBytes = 4096 });
        long tokenizerBytes = _store.Manifest.Files.Single(f => f.Name == "tokenizer.json").Bytes;
        foreach (var (request, reason) in new (WeightMessages.FetchFileChunk, string)[]
        {
            (new("config.json", 0, 100), "not a file of this model's manifest"),
            (new("../manifest.json", 0, 100), "not a file of this model's manifest"),
            (new("tokenizer.json", 0, 4097), "outside 1..4096"),
            (new("tokenizer.json", tokenizerBytes, 100), $"outside tokenizer.json's {tokenizerBytes} bytes"),
        })
        {
            server.Tell(request);
            var refusal = ExpectMsg<WeightMessages.FileUnavailable>();
            Assert.Equal(request.Name, refusal.Name);
            Assert.Contains(reason, refusal.Reason);
        }

        Server(null).Tell(new WeightMessages.FetchFileChunk("tokenizer.json", 0, 100));
        Assert.Contains("no model store here", ExpectMsg<WeightMessages.FileUnavailable>().Reason);

        // A side file changed on disk since the manifest: refused rather than sent with the wrong size.
        File.AppendAllText(Path.Combine(_store.Directory, "tokenizer.json"), " ");
        server.Tell(new WeightMessages.FetchFileChunk("tokenizer.json", 0, 100));
        Assert.Contains($"not the manifest's {tokenizerBytes}", ExpectMsg<WeightMessages.FileUnavailable>().Reason);
    }

    [Fact]
    public void Chunks_are_the_unit_file_bytes_at_their_offsets()
    {
        var server = Server(_store);
        int unit = 1;
        byte[] file = File.ReadAllBytes(_store.UnitPath(unit));
        Assert.True(file.Length > 3000, "the layer unit should span several chunks");

        // An aligned start, an unaligned middle, and a request running past the end (served up to the end).
        foreach (var (offset, length) in new[] { (0L, 1000), (1234L, 777), (file.Length - 100L, 4096) })
        {
            server.Tell(new WeightMessages.FetchUnitChunk(unit, offset, length));
            var chunk = ExpectMsg<WeightMessages.UnitChunk>();
            Assert.Equal(unit, chunk.Unit);
            Assert.Equal(offset, chunk.Offset);
            Assert.Equal(file.Length, chunk.TotalBytes);
            Assert.Equal(file.AsSpan((int)offset, (int)Math.Min(length, file.Length - offset)).ToArray(), chunk.Data);
        }
    }

    [Fact]
    public void A_unit_absent_from_the_store_is_unavailable_until_it_is_installed()
    {
        var partial = TestModels.EmptyCopy(_store, _dir["partial"]);
        var server = Server(partial);

        server.Tell(new WeightMessages.FetchUnitChunk(0, 0, 1024));
        var refusal = ExpectMsg<WeightMessages.UnitUnavailable>();
        Assert.Equal(0, refusal.Unit);
        Assert.Contains("not in this node's store", refusal.Reason);

        // Units are looked up per request: one installed later is served without telling the server.
        string copy = _dir["begin.copy"];
        File.Copy(_store.UnitPath(0), copy);
        partial.InstallUnit(0, copy);
        server.Tell(new WeightMessages.FetchUnitChunk(0, 0, 1024));
        Assert.Equal(File.ReadAllBytes(_store.UnitPath(0)).AsSpan(0, 1024).ToArray(), ExpectMsg<WeightMessages.UnitChunk>().Data);
    }

    [Fact]
    public void Out_of_range_requests_are_refused_with_a_reason()
    {
        long bytes = _store.Unit(1).Bytes;
        var limits = WireLimits.Default with { MaxChunkBytes = 1024 };
        var server = Server(_store, limits);

        server.Tell(new WeightMessages.FetchUnitChunk(1, bytes, 10));
        Assert.Contains("outside unit layer.0", ExpectMsg<WeightMessages.UnitUnavailable>().Reason);

        server.Tell(new WeightMessages.FetchUnitChunk(_store.UnitCount, 0, 10));
        Assert.Contains($"outside [0, {_store.UnitCount})", ExpectMsg<WeightMessages.UnitUnavailable>().Reason);

        // Within the wire's 4 MiB (so the message itself is accepted) but over this server's limit.
        server.Tell(new WeightMessages.FetchUnitChunk(1, 0, 2048));
        Assert.Contains("chunk length 2048 is outside 1..1024", ExpectMsg<WeightMessages.UnitUnavailable>().Reason);
    }

    [Fact]
    public void Without_a_store_everything_is_refused_until_one_is_served()
    {
        var server = Server(null);

        server.Tell(new WeightMessages.FetchManifest());
        var refusal = ExpectMsg<WeightMessages.UnitUnavailable>();
        Assert.Equal(UnitServer.NoUnit, refusal.Unit);
        Assert.Contains("no model store here", refusal.Reason);

        server.Tell(new WeightMessages.FetchUnitChunk(0, 0, 10));
        Assert.Contains("no model store here", ExpectMsg<WeightMessages.UnitUnavailable>().Reason);

        server.Tell(new UnitServer.Serve(_store));
        server.Tell(new WeightMessages.FetchManifest());
        ExpectMsg<WeightMessages.ManifestReply>();
    }

    [Fact]
    public void A_manifest_too_large_for_one_message_is_refused_rather_than_dropped_by_remoting()
    {
        Server(_store, WireLimits.Default with { MaxPayloadBytes = 1000 }).Tell(new WeightMessages.FetchManifest());
        var refusal = ExpectMsg<WeightMessages.UnitUnavailable>();
        Assert.Equal(UnitServer.NoUnit, refusal.Unit);
        Assert.Contains("more than the 1000 a message may carry", refusal.Reason);
    }

    protected override void AfterAll()
    {
        base.AfterAll();
        _store.Dispose();
        _dir.Dispose();
    }
}
