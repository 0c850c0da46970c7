using Akka.Actor;
using Akka.Event;
using Akka.Remote.Transport;
using Google.Protobuf;

namespace ActorLlm.Cluster.Security.Tls;

/// <summary>Akka makes the guard by type name (akka.remote.adapters.actorllm-guard).</summary>
public sealed class GuardTransportProvider : ITransportAdapterProvider
{
    public Akka.Remote.Transport.Transport Create(Akka.Remote.Transport.Transport wrappedTransport, ExtendedActorSystem system)
    {
        string instance = system.Settings.Config.GetString(MembershipGuard.InstancePath, "");
        var tls = MembershipGuard.Find(instance)
            ?? throw new InvalidOperationException($"no TLS node registered as '{instance}' for the membership guard");
        return new GuardTransport(wrappedTransport, system, tls.Validator);
    }
}

/// <summary>
/// A transport adapter under Akka's protocol layer, over DotNetty's TLS transport: it passes everything through
/// unchanged (same scheme, same addresses), except that every payload arriving on an association with a volunteer
/// peer is read far enough to find its recipient and type, and the <see cref="MembershipGuard"/> rules decide.
/// </summary>
internal sealed class GuardTransport : Akka.Remote.Transport.Transport
{
    private const string Daemon = "/system/cluster/core/daemon";
    private readonly Akka.Remote.Transport.Transport _wrapped;
    private readonly ExtendedActorSystem _system;
    private readonly PeerDirectory _peers;
    private readonly PeerValidator _validator;
    private readonly ILoggingAdapter _log;

    /// <summary>The serializer of actor selections (Akka's message container serializer).</summary>
    private int SelectionSerializerId { get; }
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, byte> _logged = new();

    public GuardTransport(Akka.Remote.Transport.Transport wrapped, ExtendedActorSystem system, PeerValidator validator)
    {
        SelectionSerializerId = system.Serialization.FindSerializerForType(typeof(ActorSelectionMessage)).Identifier;
        _wrapped = wrapped;
        _system = system;
        _peers = validator.Peers;
        _validator = validator;
        System = system;
        Config = wrapped.Config;
        _log = Logging.GetLogger(system, "membership-guard");
    }

    public override string SchemeIdentifier => _wrapped.SchemeIdentifier;

    public override long MaximumPayloadBytes => _wrapped.MaximumPayloadBytes;

    public override async Task<(Address, TaskCompletionSource<IAssociationEventListener>)> Listen()
    {
        var (address, wrappedListener) = await _wrapped.Listen().ConfigureAwait(false);
        var upstream = new TaskCompletionSource<IAssociationEventListener>();
        _ = upstream.Task.ContinueWith(t => wrappedListener.TrySetResult(new Listener(t.Result, this)), TaskContinuationOptions.ExecuteSynchronously);
        return (address, upstream);
    }

    public override async Task<AssociationHandle> Associate(Address remoteAddress) =>
        new GuardHandle(await _wrapped.Associate(remoteAddress).ConfigureAwait(false), this);

    public override bool IsResponsibleFor(Address remote) => _wrapped.IsResponsibleFor(remote);

    public override Task<bool> Shutdown() => _wrapped.Shutdown();

    public override Task<bool> ManagementCommand(object message) => _wrapped.ManagementCommand(message);

    /// <summary>
    /// True to pass <paramref name="payload"/> up; false drops it. A fault of the guard's own (it reads what a peer
    /// sent) is logged and the payload passed on: Akka's reader refuses what is malformed.
    /// </summary>
    private bool Admit(AssociationHandle handle, ref PeerIdentity? peer, ByteString payload)
    {
        try
        {
            return Judge(handle, ref peer, payload);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            _log.Error(e, "membership guard: could not read a message from {0}", handle.RemoteAddress);
            return true;
        }
    }

    /// <summary>True to pass <paramref name="payload"/> up; false drops it (logged once per peer and reason).</summary>
    private bool Judge(AssociationHandle handle, ref PeerIdentity? peer, ByteString payload)
    {
        peer ??= _peers.Find(handle.RemoteAddress.Host ?? "", handle.RemoteAddress.Port ?? 0);
        if (peer is not null && _validator.Refuses(peer) is { } revoked)
        {
            // Revoked while associated: nothing it sends is read any more (trusted nodes also down it: RevokedMembers).
            if (_logged.TryAdd($"{peer}|revoked", 0))
            {
                _log.Warning("membership guard: dropping every message from {0}: {1}", peer, revoked);
            }

            return false;
        }

        if (peer is not null && WireEnvelope.TryReadHandshakeOrigin(payload.Span, out string originHost, out int originPort))
        {
            // The Akka address it says it listens at, believed only on its own host: the address the cluster knows it by.
            _peers.RecordOrigin(handle.RemoteAddress.Host ?? "", originHost, originPort, peer);
        }

        if (peer is { Volunteer: false })
        {
            return true;
        }

        // Cluster messages go to the daemon, by its reference or by an actor selection (a container whose recipient is
        // the root guardian): those two are read; every other message (stage work, weights) passes without a look.
        var pdu = payload.Span;
        if (!WireEnvelope.TryRead(pdu, out var envelope))
        {
            return true;
        }

        bool toDaemon = envelope.Recipient.Split('#')[0].EndsWith(Daemon, StringComparison.Ordinal);
        if (!toDaemon && envelope.SerializerId != SelectionSerializerId)
        {
            return true;
        }

        object message;
        try
        {
            message = _system.Serialization.Deserialize(pdu[envelope.Message].ToArray(), envelope.SerializerId, envelope.Manifest);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            return true;  // Akka's reader refuses it too, with its own error
        }

        if (message is ActorSelectionMessage selection)
        {
            message = selection.Message;
        }

        string type = message.GetType().FullName ?? "";
        string? refusal = MembershipGuard.RefuseMessage(type);
        Address? sender = null;
        if (refusal is null && type == "Akka.Cluster.GossipEnvelope")
        {
            (sender, var members) = GossipOf(message);
            var state = Akka.Cluster.Cluster.Get(_system).State;
            refusal = MembershipGuard.RefuseGossip(
                sender,
                members,
                state.Members.ToDictionary(m => m.Address, m => m.Status),
                state.Unreachable.Select(m => m.Address).ToHashSet());
        }

        if (refusal is null)
        {
            return true;
        }

        string who = peer?.ToString() ?? $"an unknown peer at {handle.RemoteAddress}";
        if (_logged.Count < PeerValidator.MaxLoggedRefusals && _logged.TryAdd($"{who}|{refusal}", 0))
        {
            _log.Warning("membership guard: dropped a message from volunteer {0}: {1}{2}", who, refusal, sender is null ? "" : $"; downing {sender}");
        }

        if (sender is not null)
        {
            // Its own view keeps what it claimed (Down wins every merge): it would gossip it forever, and stall convergence.
            Akka.Cluster.Cluster.Get(_system).Down(sender);
        }

        return false;
    }

    /// <summary>The sender and the members of a GossipEnvelope (internal to Akka.Cluster: read by reflection).</summary>
    private static (Address From, List<(Address, Akka.Cluster.MemberStatus)> Members) GossipOf(object envelope)
    {
        var type = envelope.GetType();
        var from = (Akka.Cluster.UniqueAddress)type.GetProperty("From")!.GetValue(envelope)!;
        var gossip = type.GetProperty("Gossip")!.GetValue(envelope)!;
        var members = (IEnumerable<Akka.Cluster.Member>)gossip.GetType().GetProperty("Members")!.GetValue(gossip)!;
        return (from.Address, [.. members.Select(m => (m.Address, m.Status))]);
    }

    private sealed class Listener(IAssociationEventListener upstream, GuardTransport transport) : IAssociationEventListener
    {
        public void Notify(IAssociationEvent ev) =>
            upstream.Notify(ev is InboundAssociation inbound ? new InboundAssociation(new GuardHandle(inbound.Association, transport)) : ev);
    }

    private sealed class GuardHandle : AssociationHandle
    {
        private readonly AssociationHandle _inner;
        private readonly GuardTransport _transport;
        private PeerIdentity? _peer;

        public GuardHandle(AssociationHandle inner, GuardTransport transport)
            : base(inner.LocalAddress, inner.RemoteAddress)
        {
            _inner = inner;
            _transport = transport;
            ReadHandlerSource = new TaskCompletionSource<IHandleEventListener>();
            _ = ReadHandlerSource.Task.ContinueWith(
                t => _inner.ReadHandlerSource.TrySetResult(new Filter(t.Result, this)), TaskContinuationOptions.ExecuteSynchronously);
        }

        public override bool Write(ByteString payload) => _inner.Write(payload);

        [Obsolete("Akka's: use Disassociate(reason, log); this one is the abstract member every handle implements")]
        public override void Disassociate()
        {
#pragma warning disable CS0618 // the wrapped handle's own implementation of the same member
            _inner.Disassociate();
#pragma warning restore CS0618
        }

        private sealed class Filter(IHandleEventListener upstream, GuardHandle handle) : IHandleEventListener
        {
            public void Notify(IHandleEvent ev)
            {
                if (ev is InboundPayload p && !handle._transport.Admit(handle._inner, ref handle._peer, p.Payload))
                {
                    return;
                }

                upstream.Notify(ev);
            }
        }
    }
}

/// <summary>The parts of an Akka.Remote wire message the guard reads (WireFormats.proto, ContainerFormats.proto).</summary>
/// <param name="Message">Where the serialized message lies in the PDU (copied out only when it is to be read).</param>
internal readonly record struct WireEnvelope(string Recipient, Range Message, int SerializerId, string Manifest)
{
    /// <summary>
    /// AkkaProtocolMessage.payload (1) → AckAndEnvelopeContainer.envelope (2) → RemoteEnvelope: recipient (1, an
    /// ActorRefData whose path is 1) and message (2, a Payload: message 1, serializerId 2, messageManifest 3).
    /// False for anything else (control messages: associate, heartbeat, disassociate; acks alone; garbage). Reads the
    /// bytes in place: a stage's activation (megabytes) is not copied to find out that it is one. Never throws.
    /// </summary>
    public static bool TryRead(ReadOnlySpan<byte> pdu, out WireEnvelope envelope)
    {
        envelope = default;
        if (!TryField(pdu, 0, 1, out var payload) || !TryField(pdu, payload, 2, out var remote)
            || !TryField(pdu, remote, 2, out var message))
        {
            return false;
        }

        string recipient = TryField(pdu, remote, 1, out var actorRef) && TryField(pdu, actorRef, 1, out var path)
            ? System.Text.Encoding.UTF8.GetString(pdu[path])
            : "";
        if (!TryField(pdu, message, 1, out var bytes))
        {
            bytes = message.Start..message.Start;
        }

        int serializerId = TryVarint(pdu, message, 2, out ulong id) ? unchecked((int)id) : 0;
        string manifest = TryField(pdu, message, 3, out var m) ? System.Text.Encoding.UTF8.GetString(pdu[m]) : "";
        envelope = new WireEnvelope(recipient, bytes, serializerId, manifest);
        return true;
    }

    /// <summary>
    /// The origin of an Akka association handshake: AkkaProtocolMessage.instruction (2) → AkkaControlMessage
    /// (commandType 1 = ASSOCIATE, handshakeInfo 2) → AkkaHandshakeInfo.origin (1) → AddressData (hostname 2, port 3).
    /// False for every other PDU. Never throws.
    /// </summary>
    public static bool TryReadHandshakeOrigin(ReadOnlySpan<byte> pdu, out string host, out int port)
    {
        host = "";
        port = 0;
        if (!TryField(pdu, 0, 2, out var instruction) || !TryVarint(pdu, instruction, 1, out ulong command) || command != 1
            || !TryField(pdu, instruction, 2, out var info) || !TryField(pdu, info, 1, out var origin)
            || !TryField(pdu, origin, 2, out var hostname) || !TryVarint(pdu, origin, 3, out ulong p) || p is 0 or > 65535)
        {
            return false;
        }

        host = System.Text.Encoding.UTF8.GetString(pdu[hostname]);
        port = (int)p;
        return host.Length > 0;
    }

    private static bool TryField(ReadOnlySpan<byte> buffer, int offset, int number, out Range found) =>
        TryField(buffer, offset..buffer.Length, number, out found);

    /// <summary>The last length-delimited field <paramref name="number"/> of the message at <paramref name="within"/>.</summary>
    private static bool TryField(ReadOnlySpan<byte> buffer, Range within, int number, out Range found)
    {
        found = default;
        bool any = false;
        var (start, length) = within.GetOffsetAndLength(buffer.Length);
        int i = start, end = start + length;
        while (i < end)
        {
            if (!Varint(buffer, ref i, end, out ulong tag))
            {
                return false;
            }

            int wire = (int)(tag & 7);
            ulong field = tag >> 3;
            switch (wire)
            {
                case 0:
                    if (!Varint(buffer, ref i, end, out _))
                    {
                        return false;
                    }

                    break;
                case 1:
                    i += 8;
                    break;
                case 5:
                    i += 4;
                    break;
                case 2:
                    if (!Varint(buffer, ref i, end, out ulong len) || len > (ulong)(end - i))
                    {
                        return false;
                    }

                    if (field == (ulong)number)
                    {
                        found = i..(i + (int)len);
                        any = true;
                    }

                    i += (int)len;
                    break;
                default:
                    return false;
            }
        }

        return any && i == end;
    }

    /// <summary>The last varint field <paramref name="number"/> of the message at <paramref name="within"/>.</summary>
    private static bool TryVarint(ReadOnlySpan<byte> buffer, Range within, int number, out ulong value)
    {
        value = 0;
        bool any = false;
        var (start, length) = within.GetOffsetAndLength(buffer.Length);
        int i = start, end = start + length;
        while (i < end)
        {
            if (!Varint(buffer, ref i, end, out ulong tag))
            {
                return false;
            }

            switch ((int)(tag & 7))
            {
                case 0:
                    if (!Varint(buffer, ref i, end, out ulong v))
                    {
                        return false;
                    }

                    if (tag >> 3 == (ulong)number)
                    {
                        value = v;
                        any = true;
                    }

                    break;
                case 1:
                    i += 8;
                    break;
                case 5:
                    i += 4;
                    break;
                case 2:
                    if (!Varint(buffer, ref i, end, out ulong len) || len > (ulong)(end - i))
                    {
                        return false;
                    }

                    i += (int)len;
                    break;
                default:
                    return false;
            }
        }

        return any && i == end;
    }

    private static bool Varint(ReadOnlySpan<byte> buffer, ref int i, int end, out ulong value)
    {
        value = 0;
        for (int shift = 0; shift < 64; shift += 7)
        {
            if (i >= end)
            {
                return false;
            }

            byte b = buffer[i++];
            value |= (ulong)(b & 0x7F) << shift;
            if ((b & 0x80) == 0)
            {
                return true;
            }
        }

        return false;
    }
}
