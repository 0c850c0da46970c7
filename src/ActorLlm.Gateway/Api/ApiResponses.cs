using System.Text;
using System.Text.Json;
using ActorLlm.Inference.Tokenization;
using ActorLlm.Protocol.Messages;

namespace ActorLlm.Gateway.Api;

/// <summary>What the API answers, shaped as OpenAI's objects (field names and nulls as its clients expect). Pure.</summary>
public static class ApiResponses
{
    /// <summary>How every answer is written: OpenAI's field names as given, non-ASCII text as itself (not \u escapes).</summary>
    public static JsonSerializerOptions Json { get; } = new()
    {
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    /// <summary>OpenAI's finish reasons: a stop string or EOS is "stop"; max tokens or a full context is "length".</summary>
    public static string FinishReason(Protocol.FinishReason reason) => reason switch
    {
        Protocol.FinishReason.Eos or Protocol.FinishReason.Stop => "stop",
        _ => "length",
    };

    public static object Usage(int prompt, int completion) => new { prompt_tokens = prompt, completion_tokens = completion, total_tokens = prompt + completion };

    public static object Models(ServedModel model) => new
    {
        @object = "list",
        data = new[] { ModelObject(model) },
    };

    public static object ModelObject(ServedModel model) => new
    {
        id = model.Name,
        @object = "model",
        created = model.Created,
        owned_by = "actorllm",
        root = model.Id,
        max_model_len = model.ContextLimit,
        generation_defaults = GenerationDefaults(model.Defaults),
    };

    /// <summary>
    /// The model's generation_config.json defaults as the gateway applies them (only the values the file gives), so a
    /// client can settle a request exactly as `generate` does in one process (the CLI's `generate --cluster` does).
    /// </summary>
    public static Dictionary<string, object> GenerationDefaults(Inference.Generation.GenerationDefaults d)
    {
        var json = new Dictionary<string, object>();
        void Add(string key, object? value)
        {
            if (value is not null)
            {
                json[key] = value;
            }
        }

        Add("temperature", d.Temperature);
        Add("top_p", d.TopP);
        Add("top_k", d.TopK);
        Add("repetition_penalty", d.RepetitionPenalty);
        Add("do_sample", d.DoSample);
        Add("max_new_tokens", d.MaxNewTokens);
        return json;
    }

    /// <summary>A token as OpenAI shows it: its text (bytes that end mid-character become U+FFFD) and its bytes.</summary>
    public static (string Text, int[] Bytes) Token(TextTokenizer tokenizer, int id)
    {
        byte[] bytes = tokenizer.TokenBytes(id);
        return (Encoding.UTF8.GetString(bytes), [.. bytes.Select(b => (int)b)]);
    }

    /// <summary>Chat logprobs (<c>{"content": [{token, logprob, bytes, top_logprobs}], "refusal": null}</c>).</summary>
    public static object ChatLogprobs(TextTokenizer tokenizer, IEnumerable<SampledToken> tokens) => new
    {
        content = tokens.Select(t =>
        {
            var (text, bytes) = Token(tokenizer, t.Id);
            var lp = t.Logprobs ?? new TokenLogprobs(float.NaN, [], []);
            return new
            {
                token = text,
                logprob = Finite(lp.Logprob),
                bytes,
                top_logprobs = lp.TopIds.Select((id, i) =>
                {
                    var (topText, topBytes) = Token(tokenizer, id);
                    return new { token = topText, logprob = Finite(lp.TopLogprobs[i]), bytes = topBytes };
                }).ToArray(),
            };
        }).ToArray(),
        refusal = (string?)null,
    };

    /// <summary>Legacy completion logprobs (<c>{tokens, token_logprobs, top_logprobs, text_offset}</c>); offsets from <paramref name="offset"/>.</summary>
    public static object CompletionLogprobs(TextTokenizer tokenizer, IReadOnlyList<SampledToken> tokens, int offset, bool withTop)
    {
        var texts = tokens.Select(t => Token(tokenizer, t.Id).Text).ToArray();
        var offsets = new int[texts.Length];
        for (int i = 0; i < texts.Length; i++)
        {
            offsets[i] = offset;
            offset += texts[i].Length;
        }

        return new
        {
            tokens = texts,
            token_logprobs = tokens.Select(t => Finite(t.Logprobs?.Logprob ?? float.NaN)).ToArray(),
            top_logprobs = withTop
                ? tokens.Select(t =>
                {
                    var top = new Dictionary<string, double>();
                    var lp = t.Logprobs;
                    for (int i = 0; lp is not null && i < lp.TopIds.Length; i++)
                    {
                        top.TryAdd(Token(tokenizer, lp.TopIds[i]).Text, Finite(lp.TopLogprobs[i]));
                    }

                    return top;
                }).ToArray()
                : null,
            text_offset = offsets,
        };
    }

    /// <summary>
    /// ActorLlm's own account of a finished choice, beside OpenAI's fields (clients ignore fields they do not know):
    /// where it ran, how long prefill and decode took, each stage's share and batching, failovers.
    /// </summary>
    public static object Report(JobMessages.GenerationCompleted r) => new
    {
        prompt_tokens = r.PromptTokens,
        generated_tokens = r.GeneratedTokens,
        finish = r.FinishReason.ToString().ToLowerInvariant(),
        prefill_ms = r.PrefillMs,
        decode_ms = r.DecodeMs,
        failovers = r.Failovers,
        route = r.Route,
        stages = r.Stages.Select(s => new
        {
            stage = s.Stage,
            prefill_ms = s.PrefillMs,
            decode_ms = s.DecodeMs,
            decode_steps = s.DecodeSteps,
            decode_batch_steps = s.DecodeBatchSteps,
        }).ToArray(),
    };

    /// <summary>-inf (a token the model rules out) cannot be written as JSON; OpenAI writes -9999 for it.</summary>
    public static double Finite(double logprob) => double.IsFinite(logprob) ? logprob : -9999.0;
}
