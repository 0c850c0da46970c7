using ActorLlm.Inference.Checkpoints;
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

/// <summary>Holders that misbehave, for the fetcher to fall through.</summary>
public static class FakeHolders
{
    /// <summary>Answers nothing, ever.</summary>
    public static Props Silent() => Props.Create(() => new SilentHolder());

    /// <summary>Serves <paramref name="store"/>'s real bytes with one bit flipped in the first chunk: only the checksum can tell.</summary>
    public static Props Corrupting(UnitStore store) => Props.Create(() => new ByteHolder(store, true, false));

    /// <summary>Serves real bytes, one byte short per chunk.</summary>
    public static Props Short(UnitStore store) => Props.Create(() => new ByteHolder(store, false, true));

    /// <summary>Answers the manifest of <paramref name="store"/> as a server does, then refuses every side-file chunk.</summary>
    public static Props RefusingFiles(UnitStore store) => Props.Create(() => new RefusingFilesHolder(store));

    private sealed class RefusingFilesHolder : ReceiveActor
    {
        public RefusingFilesHolder(UnitStore store)
        {
            Receive<WeightMessages.FetchManifest>(_ => Sender.Tell(new WeightMessages.ManifestReply(store.Manifest.ToJson())));
            Receive<WeightMessages.FetchFileChunk>(r => Sender.Tell(new WeightMessages.FileUnavailable(r.Name, "not today")));
        }
    }

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
