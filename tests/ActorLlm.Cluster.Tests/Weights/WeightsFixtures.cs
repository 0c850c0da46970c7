using System.Text.Json.Nodes;
using ActorLlm.Inference.Checkpoints;
using ActorLlm.Inference.Config;
using ActorLlm.Protocol.Messages;
using ActorLlm.Protocol.Serialization;
using Akka.Actor;

namespace ActorLlm.Cluster.Tests.Weights;

/// <summary>Actor system config for weight tests: our serializer, and every message really serialized even in-process.</summary>
public static class WeightsConfig
{
    public const string Local = ProtocolConfig.Hocon + """

        akka.actor.serialize-messages = on
        akka.loglevel = WARNING
        """;

    /// <summary>
    /// Remoting on loopback, an OS-chosen port, frames large enough for a maximal chunk (4 MiB) plus framing. Messages
    /// between the systems are serialized by remoting itself; serialize-messages stays off here because it would also
    /// push Akka's own local messages (remote watch, endpoint and guardian messages: WatchRemote, GotUid, StopChild)
    /// through serializers, and those have no binding once JSON is refused, so remoting would silently lose them.
    /// </summary>
    public const string Remote = ProtocolConfig.Hocon + """

        akka.loglevel = WARNING
        akka.actor.serialize-messages = off
        akka.actor.provider = remote
        akka.remote.dot-netty.tcp {
          hostname = 127.0.0.1
          port = 0
          maximum-frame-size = 8MiB
          send-buffer-size = 16MiB
          receive-buffer-size = 16MiB
        }
        """;
}

/// <summary>Models and stores for the tests, built from the bundled stories260K checkpoint.</summary>
public static class TestModels
{
    public static string Stories260K => RepoPaths.Stories260K;

    /// <summary>stories260K converted into a full unit store at <paramref name="dir"/>.</summary>
    public static UnitStore ConvertStories(string dir)
    {
        UnitStoreWriter.Convert(Stories260K, dir);
        return UnitStore.Open(dir);
    }

    /// <summary>A store of the same model as <paramref name="source"/> holding no units, created the way a node without a model creates one.</summary>
    public static UnitStore EmptyCopy(UnitStore source, string dir) =>
        UnitStore.CreateEmpty(dir, source.Manifest, source.Manifest.Files.ToDictionary(f => f.Name, f => File.ReadAllBytes(Path.Combine(source.Directory, f.Name))));

    /// <summary>
    /// A Hugging Face directory of a made-up one-layer model with stories260K's shape but a vocabulary of 20480, so
    /// its begin and end units (the 20480 x 64 float32 embedding) are each a little over 5 MiB: more than one
    /// maximal 4 MiB chunk. Random weights: nobody computes with them, and random bytes expose any misplaced chunk.
    /// </summary>
    public static string WriteLargeVocabModel(string dir)
    {
        Directory.CreateDirectory(dir);
        var json = JsonNode.Parse(File.ReadAllText(Path.Combine(Stories260K, "config.json")))!.AsObject();
        json["vocab_size"] = 20480;
        json["num_hidden_layers"] = 1;
        File.WriteAllText(Path.Combine(dir, "config.json"), json.ToJsonString());
        File.Copy(Path.Combine(Stories260K, "tokenizer.json"), Path.Combine(dir, "tokenizer.json"));

        // Read back, as a checkpoint's config is: the parser takes JSON text, not values set from C#.
        var config = ModelConfig.Parse(JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "config.json")))!.AsObject());
        var random = new Random(260);
        var tensors = new List<PendingTensor>();
        for (int unit = 0; unit < config.UnitCount; unit++)
        {
            foreach (string name in UnitTensors.Required(config, unit, _ => false).Distinct().Where(n => tensors.All(t => t.Name != n)))
            {
                long[] shape = UnitTensors.ExpectedShape(config, name)!;
                var bytes = new byte[shape.Aggregate(4L, (a, b) => a * b)];
                random.NextBytes(bytes);
                tensors.Add(PendingTensor.FromBytes(name, SafetensorsDType.F32, shape, bytes));
            }
        }

        SafetensorsWriter.WriteFile(Path.Combine(dir, HfCheckpoint.SingleFile), tensors);
        return dir;
    }

    /// <summary>Hidden files (temporary and partial unit files) in a store directory: there should be none when no fetch is running.</summary>
    public static string[] HiddenFiles(string dir) =>
        Directory.EnumerateFileSystemEntries(dir).Where(p => Path.GetFileName(p).StartsWith('.')).ToArray();
}

/// <summary>Holders that misbehave, for the fetcher to fall through.</summary>
public static class FakeHolders
{
    /// <summary>Answers nothing, ever.</summary>
    public static Props Silent() => Props.Create(() => new SilentHolder());

    /// <summary>Serves <paramref name="store"/>'s real bytes with one bit flipped in the first chunk: only the checksum can tell.</summary>
    public static Props Corrupting(UnitStore store) => Props.Create(() => new ByteHolder(store, true, false));

    /// <summary>Serves real bytes, one byte short per chunk.</summary>
    public static Props Short(UnitStore store) => Props.Create(() => new ByteHolder(store, false, true));

    private sealed class SilentHolder : ReceiveActor
    {
        public SilentHolder() => ReceiveAny(_ => { });
    }

    private sealed class ByteHolder : ReceiveActor
    {
        public ByteHolder(UnitStore store, bool flipFirstBit, bool shortChunks) =>
            Receive<WeightMessages.FetchUnitChunk>(r =>
            {
                long total = store.Unit(r.Unit).Bytes;
                int length = (int)Math.Min(r.Length, total - r.Offset);
                var data = new byte[shortChunks ? length - 1 : length];
                using (var file = File.OpenRead(store.UnitPath(r.Unit)))
                {
                    file.Position = r.Offset;
                    file.ReadExactly(data);
                }

                if (flipFirstBit && r.Offset == 0)
                {
                    data[0] ^= 0x01;
                }

                Sender.Tell(new WeightMessages.UnitChunk(r.Unit, r.Offset, data, total));
            });
    }
}
