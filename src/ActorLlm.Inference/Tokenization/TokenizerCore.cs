namespace ActorLlm.Inference.Tokenization;

/// <summary>
/// One tokenizer format's model: how ordinary text becomes ids, what each id decodes to, and what its
/// own file says about special tokens. <see cref="TextTokenizer"/> adds what is common to every format:
/// input validation, added-token matching, BOS/EOS from the side files, streaming decode.
/// </summary>
internal abstract class TokenizerCore
{
    /// <summary>Tokens matched whole in the input (special tokens and other added tokens).</summary>
    public abstract IReadOnlyList<AddedToken> AddedTokens { get; }

    /// <summary>Ids the format's own post-processing puts before and after the text (e.g. Llama 3's template).</summary>
    public abstract IReadOnlyList<int> DefaultPrefix { get; }

    public abstract IReadOnlyList<int> DefaultSuffix { get; }

    /// <summary>Number of ids, added tokens included (highest id + 1).</summary>
    public abstract int VocabSize { get; }

    public abstract TokenDecodingTable Decoding { get; }

    /// <summary>The id of a token written as text (vocabulary or added token), or null.</summary>
    public abstract int? IdOf(string token);

    /// <summary>
    /// Appends the ids of a run of ordinary text (no added tokens in it). <paramref name="atTextStart"/>
    /// says whether the run begins the whole input, which some normalizations care about.
    /// </summary>
    public abstract void EncodeText(string text, bool atTextStart, List<int> ids);
}
