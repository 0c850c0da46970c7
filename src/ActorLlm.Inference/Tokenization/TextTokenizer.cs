using System.Text;

namespace ActorLlm.Inference.Tokenization;

/// <summary>
/// Text to token ids and back for a Llama-family model directory, matching Hugging Face
/// <c>tokenizers</c>. Reads tokenizer.json (BPE, SentencePiece-like with byte fallback or GPT-2
/// byte-level) or, failing that, a SentencePiece tokenizer.model; BOS/EOS come from the side files
/// (tokenizer_config.json, special_tokens_map.json, generation_config.json, config.json).
/// Immutable after <see cref="Load"/> and safe to share between threads.
/// </summary>
/// <remarks>
/// <see cref="Encode"/> with its defaults is Hugging Face's <c>encode</c>: special tokens written in the input text
/// (<c>&lt;s&gt;</c>, <c>&lt;|eot_id|&gt;</c>) are encoded as those tokens. That is for trusted text only (templates,
/// tests). User text goes through <see cref="Generation.Prompt"/>, which passes <c>parseSpecialTokens: false</c>
/// (Hugging Face's <c>split_special_tokens</c>), so that a user cannot end the sequence or a turn by typing
/// <c>&lt;/s&gt;</c> or <c>&lt;|eot_id|&gt;</c>. Decode returns the tokenizer.json decoder's output; the
/// transformers-level <c>clean_up_tokenization_spaces</c> rewrite is not applied (it is lossy). The ids and texts
/// are held to Hugging Face's own tokenizer by a differential test (tests: HuggingFaceDifferentialTests).
/// </remarks>
public sealed class TextTokenizer
{
    private readonly TokenizerCore _core;
    private readonly AddedTokenMatcher _addedTokens;
    private readonly AddedTokenMatcher _nonSpecialAddedTokens;
    private readonly int[] _prefix;
    private readonly int[] _suffix;

    private TextTokenizer(TokenizerCore core, int[] prefix, int[] suffix, int? bosId, IReadOnlySet<int> eosIds)
    {
        _core = core;
        _addedTokens = new AddedTokenMatcher(core.AddedTokens);
        _nonSpecialAddedTokens = new AddedTokenMatcher(core.AddedTokens.Where(t => !t.Special));
        _prefix = prefix;
        _suffix = suffix;
        BosId = bosId;
        EosIds = eosIds;
    }

    /// <summary>Number of token ids, added tokens included (highest id + 1).</summary>
    public int VocabSize => _core.VocabSize;

    /// <summary>The beginning-of-sequence token, or null when the model has none.</summary>
    public int? BosId { get; }

    /// <summary>Every id that ends generation: the union of the eos ids in all side files.</summary>
    public IReadOnlySet<int> EosIds { get; }

    /// <summary>Whether <see cref="Encode"/> with special tokens puts BOS first.</summary>
    public bool AddBos => BosId is { } bos && _prefix.Contains(bos);

    /// <summary>
    /// Loads the tokenizer of a model directory: tokenizer.json if present, else tokenizer.model.
    /// Throws <see cref="ModelFormatException"/> when neither exists, a file is malformed, or the
    /// tokenizer uses a feature this implementation does not support (it says which).
    /// </summary>
    public static TextTokenizer Load(string modelDirectory)
    {
        ArgumentNullException.ThrowIfNull(modelDirectory);
        if (!Directory.Exists(modelDirectory))
        {
            throw new ModelFormatException($"model directory '{modelDirectory}' does not exist");
        }

        var config = TokenizerConfigFiles.Read(modelDirectory);
        TokenizerCore core;
        try
        {
            core = File.Exists(Path.Combine(modelDirectory, HfJsonTokenizerCore.FileName))
                ? HfJsonTokenizerCore.Load(modelDirectory)
                : File.Exists(Path.Combine(modelDirectory, SentencePieceModelCore.FileName))
                    ? SentencePieceModelCore.Load(modelDirectory, config.AddedTokensDecoder)
                    : throw new ModelFormatException(
                        $"no tokenizer in '{modelDirectory}': looked for {HfJsonTokenizerCore.FileName} and {SentencePieceModelCore.FileName}");
        }
        catch (ModelFormatException e) when (!e.Message.Contains(modelDirectory, StringComparison.Ordinal))
        {
            throw new ModelFormatException($"tokenizer in '{modelDirectory}': {e.Message}", e);
        }

        return Create(modelDirectory, core, config);
    }

    /// <summary>
    /// Text to ids. With <paramref name="addSpecialTokens"/>, the template's tokens (BOS for Llama) are
    /// added. With <paramref name="parseSpecialTokens"/> (the default, as in Hugging Face) special tokens written in
    /// the text become those tokens, so leave it on only for trusted text; false encodes them as ordinary text
    /// (Hugging Face's split_special_tokens; non-special added tokens still match), which is what prompts use
    /// (<see cref="Generation.Prompt.Encode"/>). A string holding a lone surrogate throws <see cref="InvalidRequestException"/>.
    /// </summary>
    public int[] Encode(string text, bool addSpecialTokens = true, bool parseSpecialTokens = true)
    {
        ArgumentNullException.ThrowIfNull(text);
        InputText.RejectLoneSurrogates(text);

        var ids = new List<int>(text.Length / 3 + 4);
        if (addSpecialTokens)
        {
            ids.AddRange(_prefix);
        }

        var matcher = parseSpecialTokens ? _addedTokens : _nonSpecialAddedTokens;
        foreach (var piece in matcher.Split(text))
        {
            if (piece.IsText)
            {
                _core.EncodeText(text.Substring(piece.Start, piece.Length), atTextStart: piece.Start == 0, ids);
            }
            else
            {
                ids.Add(piece.TokenId);
            }
        }

        if (addSpecialTokens)
        {
            ids.AddRange(_suffix);
        }

        return [.. ids];
    }

    /// <summary>
    /// UTF-8 bytes to ids. Ill-formed UTF-8 (stray continuation bytes, 0xFF, overlong forms, encoded
    /// surrogates, a truncated sequence) throws <see cref="InvalidRequestException"/> naming the byte offset;
    /// nothing is replaced silently.
    /// </summary>
    public int[] EncodeUtf8(ReadOnlySpan<byte> utf8, bool addSpecialTokens = true, bool parseSpecialTokens = true) =>
        Encode(InputText.DecodeUtf8(utf8), addSpecialTokens, parseSpecialTokens);

    /// <summary>
    /// Ids to text. An id outside the vocabulary throws <see cref="InvalidRequestException"/>. Bytes that do
    /// not form valid UTF-8 (a model may emit a stray byte token) become U+FFFD.
    /// </summary>
    public string Decode(IEnumerable<int> ids, bool skipSpecialTokens = true)
    {
        ArgumentNullException.ThrowIfNull(ids);
        var decoder = CreateStreamingDecoder(skipSpecialTokens);
        var text = new StringBuilder();
        foreach (var id in ids)
        {
            text.Append(decoder.Push(id));
        }

        return text.Append(decoder.Flush()).ToString();
    }

    /// <summary>
    /// The bytes token <paramref name="id"/> stands for, as a client sees it on its own (a SentencePiece "▁" as a
    /// space; special tokens as their text); empty outside the vocabulary. A token may be part of a character.
    /// </summary>
    public byte[] TokenBytes(int id)
    {
        try
        {
            return _core.Decoding.BytesOf(id);
        }
        catch (InvalidRequestException)
        {
            return [];
        }
    }

    /// <summary>A decoder for ids arriving one at a time (generation); see <see cref="StreamingDecoder"/>.</summary>
    public StreamingDecoder CreateStreamingDecoder(bool skipSpecialTokens = true) => new(_core.Decoding, skipSpecialTokens);

    /// <summary>Settles BOS, EOS and the ids around the text from the format's defaults and the side files.</summary>
    private static TextTokenizer Create(string directory, TokenizerCore core, TokenizerConfigFiles config)
    {
        int Resolve(string token) => core.IdOf(token)
            ?? throw new ModelFormatException($"tokenizer in '{directory}': special token '{token}' is not in the vocabulary");

        // The tokenizer's own bos_token wins; the model configs' bos_token_id is the fallback.
        int? bosId = config.BosTokens.Count > 0 ? Resolve(config.BosTokens[0])
            : config.BosIds.Count > 0 ? config.BosIds[0]
            : core.DefaultPrefix.Count > 0 ? core.DefaultPrefix[0]
            : null;
        int? eosId = config.EosTokens.Count > 0 ? Resolve(config.EosTokens[0])
            : config.EosIds.Count > 0 ? config.EosIds[0]
            : null;

        var eosIds = new SortedSet<int>(config.EosIds);
        eosIds.UnionWith(config.EosTokens.Select(Resolve));

        // add_bos_token / add_eos_token in tokenizer_config.json override the format's template, as
        // transformers' LlamaTokenizerFast rebuilds its post-processor from them.
        int[] prefix = config.AddBosToken switch
        {
            true => [bosId ?? throw new ModelFormatException($"tokenizer in '{directory}': add_bos_token is true but no BOS token is defined")],
            false => [],
            null => [.. core.DefaultPrefix],
        };
        int[] suffix = config.AddEosToken switch
        {
            true => [eosId ?? throw new ModelFormatException($"tokenizer in '{directory}': add_eos_token is true but no EOS token is defined")],
            false => [],
            null => [.. core.DefaultSuffix],
        };

        foreach (var id in prefix.Concat(suffix).Concat(eosIds).Append(bosId ?? 0))
        {
            if (id < 0 || id >= core.VocabSize)
            {
                throw new ModelFormatException($"tokenizer in '{directory}': special token id {id} is outside the vocabulary (size {core.VocabSize})");
            }
        }

        return new TextTokenizer(core, prefix, suffix, bosId, eosIds);
    }
}
