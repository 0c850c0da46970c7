namespace ActorLlm.Inference.Tokenization;

/// <summary>A token matched whole in the input before any other processing (tokenizer.json <c>added_tokens</c>).</summary>
/// <param name="Content">The exact text that stands for the token.</param>
/// <param name="Id">Its id.</param>
/// <param name="Special">Whether Decode skips it when asked to skip special tokens.</param>
/// <param name="LeftStrip">Whether whitespace before it is swallowed by the match.</param>
/// <param name="RightStrip">Whether whitespace after it is swallowed by the match.</param>
/// <param name="SingleWord">Whether it only matches when not inside a word.</param>
internal sealed record AddedToken(string Content, int Id, bool Special, bool LeftStrip = false, bool RightStrip = false, bool SingleWord = false);

/// <summary>
/// Cuts input text into runs of ordinary text and added tokens (<c>&lt;s&gt;</c>, <c>&lt;|begin_of_text|&gt;</c>,
/// <c>&lt;|im_start|&gt;</c>): the earliest match wins and, among matches at the same place, the longest, as
/// in Hugging Face's AddedVocabulary. Ordinary runs are then normalized and encoded each on its own.
/// </summary>
/// <remarks>
/// Hugging Face matches added tokens marked <c>normalized: true</c> against normalized text; here every added
/// token is matched against the raw input. The two agree for the special tokens of Llama-family models, which
/// are all <c>normalized: false</c>.
/// </remarks>
internal sealed class AddedTokenMatcher
{
    /// <summary>One run of the input: ordinary text when <see cref="TokenId"/> is -1, else an added token.</summary>
    public readonly record struct Piece(int Start, int Length, int TokenId)
    {
        public bool IsText => TokenId < 0;
    }

    // Candidates by first character, longest first, so the first hit at a position is the longest.
    private readonly Dictionary<char, AddedToken[]> _byFirstChar;

    public AddedTokenMatcher(IEnumerable<AddedToken> tokens)
    {
        _byFirstChar = tokens
            .Where(t => t.Content.Length > 0)
            .GroupBy(t => t.Content[0])
            .ToDictionary(g => g.Key, g => g.OrderByDescending(t => t.Content.Length).ToArray());
    }

    public List<Piece> Split(string text)
    {
        var pieces = new List<Piece>();
        var textStart = 0;
        for (var i = 0; i < text.Length; i++)
        {
            if (!_byFirstChar.TryGetValue(text[i], out var candidates))
            {
                continue;
            }

            var token = candidates.FirstOrDefault(t => MatchesAt(text, i, t));
            if (token is null)
            {
                continue;
            }

            var matchStart = i;
            var matchEnd = i + token.Content.Length;
            if (token.LeftStrip)
            {
                while (matchStart > textStart && char.IsWhiteSpace(text[matchStart - 1]))
                {
                    matchStart--;
                }
            }

            if (token.RightStrip)
            {
                while (matchEnd < text.Length && char.IsWhiteSpace(text[matchEnd]))
                {
                    matchEnd++;
                }
            }

            if (matchStart > textStart)
            {
                pieces.Add(new Piece(textStart, matchStart - textStart, -1));
            }

            pieces.Add(new Piece(matchStart, matchEnd - matchStart, token.Id));
            textStart = matchEnd;
            i = matchEnd - 1;
        }

        if (textStart < text.Length)
        {
            pieces.Add(new Piece(textStart, text.Length - textStart, -1));
        }

        return pieces;
    }

    private static bool MatchesAt(string text, int index, AddedToken token)
    {
        if (index + token.Content.Length > text.Length
            || string.CompareOrdinal(text, index, token.Content, 0, token.Content.Length) != 0)
        {
            return false;
        }

        if (!token.SingleWord)
        {
            return true;
        }

        var end = index + token.Content.Length;
        var startsWord = index == 0 || !char.IsLetterOrDigit(text[index - 1]);
        var endsWord = end == text.Length || !char.IsLetterOrDigit(text[end]);
        return startsWord && endsWord;
    }
}
