using System.Text.Json;

namespace ActorLlm.Inference.Tokenization;

/// <summary>
/// The <c>pre_tokenizer</c> of a tokenizer.json: cuts a normalized piece of text into the words that
/// BPE encodes one at a time. Supports Split (regex or string, Isolated/Removed/MergedWith*), ByteLevel
/// (GPT-2, Llama 3, Qwen2), Metaspace (newer SentencePiece-style exports) and Sequence. With no
/// pre-tokenizer (Llama 2's tokenizer.json) the whole piece is one word.
/// </summary>
internal sealed class PreTokenizerPipeline
{
    // GPT-2's pattern, used by the ByteLevel pre-tokenizer when use_regex is true.
    private const string Gpt2Pattern =
        @"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

    private static readonly Lazy<CodePointRegex> s_gpt2Regex = new(() => CodePointRegex.Create(Gpt2Pattern));

    /// <summary>A word and whether it starts at the very beginning of the input text.</summary>
    private readonly record struct Word(string Text, bool AtTextStart);

    private readonly Func<List<Word>, List<Word>>[] _steps;

    private PreTokenizerPipeline(Func<List<Word>, List<Word>>[] steps) => _steps = steps;

    /// <summary>Splits <paramref name="text"/> into words; <paramref name="atTextStart"/> matters to Metaspace's "first" scheme.</summary>
    public IEnumerable<string> Split(string text, bool atTextStart)
    {
        var words = new List<Word> { new(text, atTextStart) };
        foreach (var step in _steps)
        {
            words = step(words);
        }

        return words.Where(w => w.Text.Length > 0).Select(w => w.Text);
    }

    /// <summary>Reads a tokenizer.json <c>pre_tokenizer</c> value (null means none).</summary>
    public static PreTokenizerPipeline Parse(JsonElement element)
    {
        var steps = new List<Func<List<Word>, List<Word>>>();
        AddSteps(element, steps);
        return new PreTokenizerPipeline([.. steps]);
    }

    private static void AddSteps(JsonElement element, List<Func<List<Word>, List<Word>>> steps)
    {
        foreach (var (type, component) in JsonFields.Components(element, "pretokenizers"))
        {
            switch (type)
            {
                case "Split":
                    steps.Add(ParseSplit(component));
                    break;
                case "ByteLevel":
                    steps.Add(ParseByteLevel(component));
                    break;
                case "Metaspace":
                    steps.Add(ParseMetaspace(component));
                    break;
                default:
                    throw new ModelFormatException($"unsupported pre_tokenizer type '{type}'");
            }
        }
    }

    private static Func<List<Word>, List<Word>> ParseSplit(JsonElement element)
    {
        if (JsonFields.OptionalBool(element, "invert") == true)
        {
            throw new ModelFormatException("unsupported Split pre_tokenizer with invert: true");
        }

        var pattern = JsonFields.Required(element, "pattern");
        var regex = pattern.TryGetProperty("Regex", out var regexText)
            ? CodePointRegex.Create(regexText.GetString() ?? string.Empty)
            : pattern.TryGetProperty("String", out var literal)
                ? CodePointRegex.Create(System.Text.RegularExpressions.Regex.Escape(literal.GetString() ?? string.Empty))
                : throw new ModelFormatException("Split pre_tokenizer without a String or Regex pattern");
        var behavior = JsonFields.RequiredString(element, "behavior");
        if (behavior is not ("Isolated" or "Removed" or "MergedWithPrevious" or "MergedWithNext"))
        {
            throw new ModelFormatException($"unsupported Split behavior '{behavior}'");
        }

        return words =>
        {
            var result = new List<Word>();
            foreach (var word in words)
            {
                var pieces = SplitByMatches(word.Text, regex.Matches(word.Text), behavior);
                result.AddRange(pieces.Select((p, i) => new Word(p, word.AtTextStart && i == 0)));
            }

            return result;
        };
    }

    /// <summary>Cuts text at regex matches; the behavior says where each match goes (Hugging Face's SplitDelimiterBehavior).</summary>
    private static List<string> SplitByMatches(string text, List<(int Start, int Length)> matches, string behavior)
    {
        var pieces = new List<string>();
        var position = 0;
        foreach (var (start, length) in matches)
        {
            var gap = text[position..start];
            var match = text.Substring(start, length);
            switch (behavior)
            {
                case "Isolated":
                    pieces.Add(gap);
                    pieces.Add(match);
                    position = start + length;
                    break;
                case "Removed":
                    pieces.Add(gap);
                    position = start + length;
                    break;
                case "MergedWithPrevious":
                    pieces.Add(gap + match);
                    position = start + length;
                    break;
                default: // MergedWithNext: the match starts the next piece
                    pieces.Add(gap);
                    position = start;
                    break;
            }
        }

        pieces.Add(text[position..]);

        // Empty pieces (a match at the very start, two adjacent matches) are not words.
        return pieces.Where(p => p.Length > 0).ToList();
    }

    private static Func<List<Word>, List<Word>> ParseByteLevel(JsonElement element)
    {
        var addPrefixSpace = JsonFields.OptionalBool(element, "add_prefix_space") ?? true;
        var useRegex = JsonFields.OptionalBool(element, "use_regex") ?? true;
        return words =>
        {
            var result = new List<Word>();
            foreach (var word in words)
            {
                var text = addPrefixSpace && !word.Text.StartsWith(' ') ? " " + word.Text : word.Text;
                var pieces = useRegex ? SplitByMatches(text, s_gpt2Regex.Value.Matches(text), "Isolated") : [text];
                for (var i = 0; i < pieces.Count; i++)
                {
                    result.Add(new Word(ByteLevelAlphabet.Encode(pieces[i]), word.AtTextStart && i == 0));
                }
            }

            return result;
        };
    }

    private static Func<List<Word>, List<Word>> ParseMetaspace(JsonElement element)
    {
        var replacement = JsonFields.OptionalString(element, "replacement") ?? "\u2581";
        // Older exports say add_prefix_space (true = always); newer ones prepend_scheme: always | first | never.
        var scheme = JsonFields.OptionalString(element, "prepend_scheme")
            ?? ((JsonFields.OptionalBool(element, "add_prefix_space") ?? true) ? "always" : "never");
        var split = JsonFields.OptionalBool(element, "split") ?? true;
        var splitter = CodePointRegex.Create(System.Text.RegularExpressions.Regex.Escape(replacement));
        return words =>
        {
            var result = new List<Word>();
            foreach (var word in words)
            {
                var text = word.Text.Replace(" ", replacement, StringComparison.Ordinal);
                var prepend = scheme == "always" || (scheme == "first" && word.AtTextStart);
                if (prepend && !text.StartsWith(replacement, StringComparison.Ordinal))
                {
                    text = replacement + text;
                }

                var pieces = split ? SplitByMatches(text, splitter.Matches(text), "MergedWithNext") : [text];
                result.AddRange(pieces.Select((p, i) => new Word(p, word.AtTextStart && i == 0)));
            }

            return result;
        };
    }
}
