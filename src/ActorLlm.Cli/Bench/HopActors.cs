using System.Diagnostics;
using ActorLlm.Inference.Execution;
using ActorLlm.Protocol.Messages;
using Akka.Actor;

namespace ActorLlm.Cli.Bench;

/// <summary>
/// The actors of <c>actorllm bench-hop</c>: a pinger that sends one <see cref="StageMessages.Forward"/> at a time and
/// times each round trip, and two echoes on the far side: a plain one, and one that handles the step as a stage does
/// (its pinned thread, the self-sent flush that gathers a batch, the activation decoded into a tensor and encoded again,
/// the answer sent to the route's next hop) without any compute.
/// </summary>
internal static class HopActors
{
    /// <summary>To a <see cref="Pinger"/>: send <paramref name="Message"/> to <paramref name="Target"/> <paramref name="Count"/> times, one after the other.</summary>
    public sealed record Run(IActorRef Target, StageMessages.Forward Message, int Count, TaskCompletionSource<long[]> Done);

    /// <summary>Round trips in <see cref="Stopwatch"/> ticks, one at a time: the next goes out as the last comes back.</summary>
    public sealed class Pinger : ReceiveActor
    {
        private Run? _run;
        private long[] _ticks = [];
        private int _done;
        private long _sent;

        public Pinger()
        {
            Receive<Run>(r =>
            {
                _run = r;
                _ticks = new long[r.Count];
                _done = 0;
                Send();
            });
            Receive<StageMessages.Forward>(_ =>
            {
                _ticks[_done++] = Stopwatch.GetTimestamp() - _sent;
                if (_done == _run!.Count)
                {
                    _run.Done.TrySetResult(_ticks);
                    _run = null;
                }
                else
                {
                    Send();
                }
            });
        }

        private void Send()
        {
            _sent = Stopwatch.GetTimestamp();
            _run!.Target.Tell(_run.Message, Self);
        }
    }

    /// <summary>Answers every Forward with itself: the hop's transport and serialization, nothing else.</summary>
    public sealed class Echo : ReceiveActor
    {
        public Echo() => Receive<StageMessages.Forward>(f => Sender.Tell(f, Self));
    }

    /// <summary>
    /// Handles a Forward as StageWorkerActor and StepRunner do, minus the forward pass: queued, a Flush sent to itself so
    /// that what else waits in the mailbox joins the batch, the payload decoded into a tensor and the "output" encoded
    /// again (<see cref="TensorCodec"/>), and the step sent on to the route's next hop (here: back to the pinger).
    /// </summary>
    public sealed class StageEcho : ReceiveActor
    {
        private readonly List<StageMessages.Forward> _pending = [];
        private bool _flushScheduled;

        private sealed record Flush
        {
            public static Flush Instance { get; } = new();
        }

        public StageEcho()
        {
            Receive<StageMessages.Forward>(f =>
            {
                _pending.Add(f);
                if (!_flushScheduled)
                {
                    _flushScheduled = true;
                    Self.Tell(Flush.Instance);
                }
            });
            Receive<Flush>(_ =>
            {
                _flushScheduled = false;
                foreach (var f in _pending)
                {
                    var hidden = f.Hidden;
                    if (hidden is not null)
                    {
                        using var tensor = TensorCodec.FromPayload(hidden);
                        hidden = TensorCodec.ToPayload(tensor, tensor.dtype);
                    }

                    f.Rest[0].Worker.Tell(f with { Hidden = hidden }, Self);
                }

                _pending.Clear();
            });
        }
    }
}
