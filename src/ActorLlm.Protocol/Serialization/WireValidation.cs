using ActorLlm.Protocol.Messages;

namespace ActorLlm.Protocol.Serialization;

/// <summary>
/// Structural checks on every message as it arrives: required fields present, arrays and payloads within
/// <see cref="WireLimits"/>, tensors whose shape and dtype match their bytes. A message that fails is dropped
/// with a <see cref="WireFormatException"/>; none is half-used.
/// </summary>
public static class WireValidation
{
    public static object Validate(object message, WireLimits limits)
    {
        switch (message)
        {
            case StageMessages.Forward f:
                Require(f.Session.Value, "session");
                Require(f.TokenIds, "token ids");
                Require(f.Rest, "route");
                Require(f.ReplyTo, "reply-to");
                Require(f.Sampling, "sampling");
                Require(f.Timings, "timings");
                Defined(f.Kind, "step kind");
                if (SamplingRules.Problem(f.Sampling.Temperature, f.Sampling.TopK, f.Sampling.TopP, f.Sampling.RepetitionPenalty) is string sampling)
                {
                    throw new WireFormatException($"step sampling: {sampling}");
                }

                if (f.Sampling.Logprobs is < -1 or > WireSampling.MaxLogprobs)
                {
                    throw new WireFormatException($"step sampling: logprobs must be -1..{WireSampling.MaxLogprobs}, got {f.Sampling.Logprobs}");
                }
                if (f.TokenIds.Length == 0 || f.TokenIds.Length > limits.MaxTokensPerStep)
                {
                    throw new WireFormatException($"a step carries 1..{limits.MaxTokensPerStep} tokens, got {f.TokenIds.Length}");
                }

                if (f.StartPosition < 0)
                {
                    throw new WireFormatException($"start position {f.StartPosition} is negative");
                }

                if (f.Rest.Any(h => h is null || h.Worker is null))
                {
                    throw new WireFormatException("route hops need a worker");
                }

                if (f.Kind == StepKind.Score && (f.ChoiceStart < 1 || f.ChoiceEnd <= f.ChoiceStart || f.ChoiceEnd > f.TokenIds.Length))
                {
                    throw new WireFormatException($"choice tokens [{f.ChoiceStart}, {f.ChoiceEnd}) must lie inside the {f.TokenIds.Length} tokens after the first");
                }

                if (f.Kind == StepKind.Audit && (f.ChoiceStart < 0 || f.ChoiceStart > f.TokenIds.Length - 2))
                {
                    throw new WireFormatException($"an audit step reports from token {f.ChoiceStart} of {f.TokenIds.Length}: it needs a token after the first reported position");
                }

                if (f.Loop < 0 || (f.Loop > 0 && (f.Kind != StepKind.Generate || f.Ring is not { Length: > 0 } || f.Ring.Any(h => h is null || h.Worker is null))))
                {
                    throw new WireFormatException($"a ring of {f.Loop} steps needs a generate step and a route of hops with workers");
                }

                if (f.Hidden is not null)
                {
                    f.Hidden.Validate(limits.MaxPayloadBytes);
                    if (f.Hidden.Shape.Length != 2 || f.Hidden.Shape[0] != f.TokenIds.Length)
                    {
                        throw new WireFormatException(
                            $"hidden states [{string.Join(", ", f.Hidden.Shape)}] must be [{f.TokenIds.Length}, hidden] for {f.TokenIds.Length} tokens");
                    }
                }

                break;
            case JobMessages.StartGeneration g:
                Require(g.Session.Value, "session");
                Require(g.PromptUtf8, "prompt");
                Require(g.Options, "options");
                Require(g.Options.Sampling, "sampling");
                Require(g.Options.StopStrings, "stop strings");
                Require(g.Client, "client");
                Bound(g.PromptUtf8.Length, limits.MaxPromptBytes, "prompt bytes", "max-prompt-bytes");
                break;
            case JobMessages.StartScoring s:
                Require(s.Session.Value, "session");
                Require(s.PromptUtf8, "prompt");
                Require(s.Choices, "choices");
                Require(s.Client, "client");
                Bound(s.PromptUtf8.Length, limits.MaxPromptBytes, "prompt bytes", "max-prompt-bytes");
                Bound(s.Choices.Length, limits.MaxChoices, "choices", "max-choices");
                Bound(s.Choices.Sum(c => (long)(c?.Length ?? 0)), limits.MaxPromptBytes, "choice characters", "max-prompt-bytes");
                break;
            case WeightMessages.UnitChunk c:
                Require(c.Data, "data");
                Bound(c.Data.Length, limits.MaxChunkBytes, "chunk bytes", "max-chunk-bytes");
                break;
            case WeightMessages.FileChunk c:
                Require(c.Name, "name");
                Require(c.Data, "data");
                Bound(c.Data.Length, limits.MaxChunkBytes, "chunk bytes", "max-chunk-bytes");
                break;
            case WeightMessages.FetchFileChunk c:
                Require(c.Name, "name");
                if (c.Length <= 0 || c.Length > limits.MaxChunkBytes || c.Offset < 0)
                {
                    throw new WireFormatException($"file chunk request [{c.Offset}, +{c.Length}) is out of bounds (max {limits.MaxChunkBytes} bytes)");
                }

                break;
            case WeightMessages.ManifestReply m:
                Require(m.ManifestJson, "manifest");
                Bound(m.ManifestJson.Length, limits.MaxPayloadBytes, "manifest bytes", "max-payload-bytes");
                break;
            case WeightMessages.FetchUnitChunk c:
                if (c.Length <= 0 || c.Length > limits.MaxChunkBytes || c.Offset < 0)
                {
                    throw new WireFormatException($"chunk request [{c.Offset}, +{c.Length}) is out of bounds (max {limits.MaxChunkBytes} bytes)");
                }

                break;
            case PlacementMessages.RegisterDevice r:
                Require(r.Device, "device");
                Require(r.Worker, "worker");
                Require(r.LocalUnits, "local units");
                Require(r.Serving, "serving ranges");
                Require(r.ModelId.Value, "model id");
                Require(r.Device.Node.Value, "node address");
                Require(r.Device.Device, "device name");
                Defined(r.Device.DType, "dtype");
                if (!double.IsFinite(r.Device.Speed) || r.Device.Speed <= 0 || r.Device.MemoryBytes <= 0)
                {
                    throw new WireFormatException($"device {r.Device.Key}: speed and memory must be positive and finite");
                }

                if (r.Device.PinnableBytes < 0 || !double.IsFinite(r.Device.HostToDeviceBytesPerSecond) || r.Device.HostToDeviceBytesPerSecond < 0)
                {
                    throw new WireFormatException($"device {r.Device.Key}: pinnable memory and host-to-device bandwidth must be finite and at least 0");
                }

                break;
            case PlacementMessages.AssignUnits a when a.StreamedLayers < 0 || a.StreamedLayers > a.Range.Count:
                throw new WireFormatException($"assignment of {a.Range}: {a.StreamedLayers} streamed layers");
            case PlacementMessages.RouteTable t:
                Require(t.Stages, "stages");
                Defined(t.Status, "placement status");
                break;
            case StageMessages.Audited a:
                Require(a.Session.Value, "session");
                Require(a.Rows, "rows");
                Require(a.Timings, "timings");
                Bound(a.Rows.Length, limits.MaxTokensPerStep, "audited rows", "max-tokens-per-step");
                if (a.Rows.Any(r => r is null || r.TopIds is null || r.TopLogprobs is null || r.TopIds.Length != r.TopLogprobs.Length || r.TopIds.Length > WireSampling.MaxLogprobs))
                {
                    throw new WireFormatException($"audited rows need up to {WireSampling.MaxLogprobs} ids with one log-probability each");
                }

                break;
            case PlacementMessages.Quarantine q:
                Require(q.Device.Node.Value, "device");
                Require(q.Reason, "reason");
                break;
            case StageMessages.Supersede s:
                Require(s.Session.Value, "session");
                break;
            case StageMessages.StageFailed f:
                Require(f.Stage.Node.Value, "failing device");
                break;
            case JobMessages.GenerationCompleted c:
                Defined(c.FinishReason, "finish reason");
                break;
        }

        return message;
    }

    private static void Require(object? value, string what)
    {
        if (value is null)
        {
            throw new WireFormatException($"message lacks its {what}");
        }
    }

    private static void Defined<T>(T value, string what)
        where T : struct, Enum
    {
        if (!Enum.IsDefined(value))
        {
            throw new WireFormatException($"{what} {value} is not one this node knows");
        }
    }

    /// <param name="key">The limit's key under actorllm.wire, named in the refusal.</param>
    private static void Bound(long value, long max, string what, string key)
    {
        if (value > max)
        {
            throw new WireFormatException($"{what} {value} exceed the limit of {max} (actorllm.wire.{key})");
        }
    }
}
