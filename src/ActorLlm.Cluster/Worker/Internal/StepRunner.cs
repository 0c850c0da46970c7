using System.Diagnostics;
using System.Runtime.InteropServices;
using ActorLlm.Inference;
using ActorLlm.Inference.Execution;
using ActorLlm.Inference.Generation;
using ActorLlm.Inference.Sampling;
using ActorLlm.Protocol;
using ActorLlm.Protocol.Messages;
using Akka.Actor;

namespace ActorLlm.Cluster.Worker.Internal;

/// <summary>
/// Runs a batch of steps on one of the worker's executors and says what to send where: the next stage's Forward, or
/// (at the end of the route) the sampled token, prefill acknowledgement or choice score for the session, or a
/// StageFailed. One per worker (its label, key and end-stage histories); no actor in here, so it is tested directly.
/// </summary>
/// <param name="lie">Fault injection for tests (<see cref="LieSettings"/>); null or inactive: honest.</param>
internal sealed class StepRunner(string label, DeviceKey deviceKey, SessionHistories histories, LyingWorker? lie = null)
{
    /// <summary>One message to send.</summary>
    public readonly record struct Outgoing(IActorRef To, object Message);

    public IReadOnlyList<Outgoing> Run(StageExecutor executor, IReadOnlyList<StageMessages.Forward> batch)
    {
        var outgoing = new List<Outgoing>(batch.Count);
        var clock = Stopwatch.StartNew();
        IReadOnlyList<StageOutput> outputs;
        var inputs = new List<StageInput>(batch.Count);
        try
        {
            foreach (var f in batch)
            {
                inputs.Add(new StageInput(f.Session, f.StartPosition, f.TokenIds, f.Hidden is null ? null : TensorCodec.FromPayload(f.Hidden), AllLogits: f.Kind is StepKind.Score or StepKind.Audit));
            }

            outputs = executor.Forward(inputs);
            if (lie is { Active: true })
            {
                outputs = [.. outputs.Select((o, i) => Told(batch[i], o))];
            }
        }
        catch (Exception e) when (e is InvalidRequestException or WireFormatException && batch.Count > 1)
        {
            // One bad request must not fail the others batched with it: run each alone to find it.
            DisposeHidden(inputs);
            return batch.SelectMany(f => Run(executor, [f])).ToList();
        }
        catch (Exception e) when (e is InvalidRequestException or WireFormatException)
        {
            DisposeHidden(inputs);
            return [Failed(batch[0], e.Message, retryable: false)];
        }
        catch (Exception e)
        {
            // Device trouble (out of memory, a driver error): another replica may well succeed.
            DisposeHidden(inputs);
            return batch.Select(f => Failed(f, $"{e.GetType().Name}: {e.Message}", retryable: true)).ToList();
        }

        double ms = clock.Elapsed.TotalMilliseconds;
        DisposeHidden(inputs);
        var greedy = GreedyTokens(batch, outputs);
        for (int i = 0; i < batch.Count; i++)
        {
            using var output = outputs[i];
            try
            {
                outgoing.AddRange(Next(executor, batch[i], output, ms, batch.Count, greedy[i]));
            }
            catch (Exception e) when (e is InvalidRequestException or WireFormatException)
            {
                outgoing.Add(Failed(batch[i], e.Message, retryable: false));
            }
            catch (Exception e)
            {
                // Anything else failing one request's answer (sampling, scoring: e.g. a score step with no token before
                // its choice) is that request's failure, retryable as above: nothing escapes Run, so the rest of the
                // batch is answered and the worker keeps its ranges and session caches.
                outgoing.Add(Failed(batch[i], $"{e.GetType().Name}: {e.Message}", retryable: true));
            }
        }

        return outgoing;
    }

    /// <summary>
    /// The tokens of the pass's greedy steps without penalty that end here, chosen together (one device wait for all);
    /// null for every other step. Should choosing them together fail, each is chosen on its own as before.
    /// </summary>
    private static int?[] GreedyTokens(IReadOnlyList<StageMessages.Forward> batch, IReadOnlyList<StageOutput> outputs)
    {
        var chosen = new int?[batch.Count];
        var rows = Enumerable.Range(0, batch.Count)
            .Where(i => batch[i] is { Kind: StepKind.Generate, Rest.Length: 0, Sampling: { Temperature: 0, RepetitionPenalty: 1f } } && outputs[i].Logits is not null)
            .ToArray();
        if (rows.Length < 2)
        {
            return chosen;
        }

        try
        {
            int[] tokens = Sampler.GreedyAll([.. rows.Select(i => outputs[i].Logits!)]);
            for (int k = 0; k < rows.Length; k++)
            {
                chosen[rows[k]] = tokens[k];
            }
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or ExternalException)
        {
            // Rows of different widths (cannot happen on one executor) or a device error: fall back to one by one.
        }

        return chosen;
    }

    private IEnumerable<Outgoing> Next(StageExecutor executor, StageMessages.Forward f, StageOutput output, double ms, int batchSteps, int? greedy)
    {
        var timings = f.Timings.Append(new StageTiming(label, ms, f.TokenIds.Length, batchSteps)).ToArray();
        if (f.Rest.Length > 0)
        {
            if (output.Hidden is null)
            {
                throw new InvalidRequestException($"route continues after {f.Range}, but this stage ends the model");
            }

            var hop = f.Rest[0];
            var payload = TensorCodec.ToPayload(output.Hidden, executor.Target.DType);
            return [new Outgoing(hop.Worker, f with { Range = hop.Range, Hidden = payload, Rest = f.Rest[1..], Timings = timings })];
        }

        if (output.Logits is null)
        {
            throw new InvalidRequestException($"route ends after {f.Range}, but this stage does not hold the end of the model");
        }

        var history = histories.Update(f.Session, f.StartPosition, f.TokenIds);
        int position = f.StartPosition + f.TokenIds.Length;
        if (f.Kind == StepKind.Generate)
        {
            int token = greedy ?? Sampler.Sample(output.Logits, WireOptions.ToSampling(f.Sampling), history, position);
            var logprobs = f.Sampling.Logprobs >= 0 ? Sampler.Logprobs(output.Logits, token, f.Sampling.Logprobs) : null;
            if (f is { Loop: > 0, Ring: [var first, .. var rest] })
            {
                // The ring: the next step goes to the first stage before the session hears of the token, so the session's
                // round trip is off the per-token path; it still gets every token, and ends or abandons the ring.
                var next = new StageMessages.Forward(
                    f.Session, f.Step, first.Range, position, [token], null, rest, f.ReplyTo, StepKind.Generate, f.Sampling, 0, 0, [], f.Loop - 1, f.Ring, FromRing: true);
                return [new Outgoing(first.Worker, next), new Outgoing(f.ReplyTo, new StageMessages.TokenSampled(f.Session, f.Step, token, position, timings, Continued: true, logprobs))];
            }

            return [new Outgoing(f.ReplyTo, new StageMessages.TokenSampled(f.Session, f.Step, token, position, timings, Logprobs: logprobs))];
        }

        object reply = f.Kind switch
        {
            StepKind.Prefill => new StageMessages.PrefillDone(f.Session, f.Step, timings),
            StepKind.Audit => new StageMessages.Audited(f.Session, f.Step, f.StartPosition + f.ChoiceStart, AuditRows(output.Logits, f), timings),
            StepKind.Score => new StageMessages.ChoiceScored(
                f.Session,
                f.Step,
                ChoiceScoring.LogProbability(output.Logits, f.TokenIds[..f.ChoiceEnd], f.ChoiceStart),
                timings),
            _ => throw new InvalidRequestException($"unknown step kind {f.Kind}"),
        };
        return [new Outgoing(f.ReplyTo, reply)];
    }

    /// <summary>
    /// An audit's rows: for each position from the step's <c>ChoiceStart</c> to the one before its last, the
    /// log-probability of the token that follows it and the most likely tokens (logits [T, vocab] of every position).
    /// </summary>
    private static TokenLogprobs[] AuditRows(TorchSharp.torch.Tensor logits, StageMessages.Forward f)
    {
        var rows = new TokenLogprobs[f.TokenIds.Length - 1 - f.ChoiceStart];
        for (int i = 0; i < rows.Length; i++)
        {
            int r = f.ChoiceStart + i;
            using var row = logits[r];
            rows[i] = Sampler.Logprobs(row, f.TokenIds[r + 1], f.Sampling.Logprobs);
        }

        return rows;
    }

    /// <summary>What a lying worker (<see cref="LyingWorker"/>) sends on instead of <paramref name="computed"/>: itself when honest this time.</summary>
    private StageOutput Told(StageMessages.Forward f, StageOutput computed)
    {
        if (lie is null || (computed.Hidden ?? computed.Logits) is not { } tensor)
        {
            return computed;
        }

        var told = lie.Apply(f.Session, tensor);
        if (ReferenceEquals(told, tensor))
        {
            return computed;
        }

        var replaced = computed.Hidden is not null ? new StageOutput(f.Session, told, null) : new StageOutput(f.Session, null, told);
        computed.Dispose();
        return replaced;
    }

    /// <summary>Forgets what the runner keeps of a session (a lying worker's last output).</summary>
    public void Release(SessionId session) => lie?.Release(session);

    private Outgoing Failed(StageMessages.Forward f, string reason, bool retryable) =>
        new(f.ReplyTo, new StageMessages.StageFailed(f.Session, f.Step, deviceKey, $"{label}: {reason}", retryable));

    private static void DisposeHidden(List<StageInput> inputs)
    {
        foreach (var i in inputs)
        {
            i.Hidden?.Dispose();
        }

        inputs.Clear();
    }
}
