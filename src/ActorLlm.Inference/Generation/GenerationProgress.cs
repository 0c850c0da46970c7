using ActorLlm.Inference.Tokenization;
using ActorLlm.Protocol;

namespace ActorLlm.Inference.Generation;

/// <summary>
/// One job's output as tokens arrive: turns each sampled token into the text it adds, and decides when to stop
/// (EOS, max tokens, stop strings, full context). It knows nothing of where tokens come from, so the single
/// process generator and a cluster session share it.
/// </summary>
public sealed class GenerationProgress
{
    private readonly TextTokenizer _tokenizer;
    private readonly GenerationOptions _options;
    private readonly int _contextLimit;
    private readonly StreamingDecoder _decoder;
    private readonly StopStringMatcher _stops;
    private readonly List<int> _tokens;
    private readonly System.Text.StringBuilder _text = new();

    public GenerationProgress(TextTokenizer tokenizer, int[] promptIds, GenerationOptions options, int contextLimit)
    {
        if (promptIds.Length == 0)
        {
            throw new InvalidRequestException("the prompt has no tokens (and the tokenizer has no BOS to start from)");
        }

        if (promptIds.Length >= contextLimit)
        {
            throw new InvalidRequestException($"the prompt has {promptIds.Length} tokens but the context holds {contextLimit}: shorten it");
        }

        _tokenizer = tokenizer;
        _options = options.Validate();
        _contextLimit = contextLimit;
        PromptIds = promptIds;
        _tokens = [.. promptIds];
        _stops = new StopStringMatcher(options.StopStrings);

        // Prime the decoder with the prompt so the first generated word keeps its leading space:
        // prompt text + emitted text reads as the decode of the whole sequence.
        _decoder = tokenizer.CreateStreamingDecoder();
        _decoder.Prime(promptIds);

        if (options.MaxTokens == 0)
        {
            Finish = FinishReason.Length;
        }
    }

    public int[] PromptIds { get; }

    /// <summary>Prompt and generated tokens so far (what a replay feeds through a replacement stage).</summary>
    public IReadOnlyList<int> Tokens => _tokens;

    public int GeneratedCount => _tokens.Count - PromptIds.Length;

    public IEnumerable<int> GeneratedIds => _tokens.Skip(PromptIds.Length);

    /// <summary>Set when the job is over.</summary>
    public FinishReason? Finish { get; private set; }

    public bool Done => Finish is not null;

    /// <summary>Everything emitted so far.</summary>
    public string Text => _text.ToString();

    /// <summary>
    /// Takes the next sampled token and returns the text it adds (possibly empty: a partial character, or text
    /// held back while it may still become a stop string).
    /// </summary>
    public string Accept(int token)
    {
        if (Done)
        {
            throw new InvalidOperationException("generation already finished");
        }

        string delta;
        if (_options.StopAtEos && _tokenizer.EosIds.Contains(token))
        {
            Finish = FinishReason.Eos;
            delta = _stops.Push(_decoder.Flush()) + _stops.Flush();
        }
        else
        {
            _tokens.Add(token);
            delta = _stops.Push(_decoder.Push(token));
            if (_stops.Stopped)
            {
                Finish = FinishReason.Stop;
            }
            else if (GeneratedCount >= _options.MaxTokens || _tokens.Count >= _contextLimit)
            {
                Finish = GeneratedCount >= _options.MaxTokens ? FinishReason.Length : FinishReason.Context;
                delta += _stops.Push(_decoder.Flush());
                delta += _stops.Stopped ? "" : _stops.Flush();
                if (_stops.Stopped)
                {
                    Finish = FinishReason.Stop;
                }
            }
        }

        _text.Append(delta);
        return delta;
    }
}
