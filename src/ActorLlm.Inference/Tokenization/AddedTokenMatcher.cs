using System.Globalization;

namespace ActorLlm.Inference.Tokenization;

/// <summary>A token matched whole in the input before any other processing (tokenizer.json <c>added_tokens</c>).</summary>
/// <param name="Content">The exact text that stands for the token.</param>
/// <param name="Id">Its id.</param>
/// <param name="Special">Whether Decode skips it when asked to skip special tokens.</param>
/// <param name="LeftStrip">Whether whitespace before it is swallowed by the match.</param>
/// <param name="RightStrip">Whether whitespace after it is swallowed by the match.</param>
/// <param name="SingleWord">Whether it only matches when no word character touches it on either side.</param>
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
            if (token.SingleWord && !IsSingleWord(text, matchStart, matchEnd))
            {
                // As Hugging Face's matcher: the longest match here is passed over whole, and the search goes on
                // after it (a shorter token at the same place, or one starting inside it, is not tried).
                i = matchEnd - 1;
                continue;
            }
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

    private static bool MatchesAt(string text, int index, AddedToken token) =>
        index + token.Content.Length <= text.Length
        && string.CompareOrdinal(text, index, token.Content, 0, token.Content.Length) == 0;

    /// <summary>Hugging Face's single_word test: no word character (regex <c>\w</c>) just before or just after the match.</summary>
    private static bool IsSingleWord(string text, int start, int end)
    {
        var endsWord = start > 0 && IsWordCharacter(start >= 2 && char.IsSurrogatePair(text[start - 2], text[start - 1])
            ? char.ConvertToUtf32(text[start - 2], text[start - 1])
            : text[start - 1]);
        var startsWord = end < text.Length && IsWordCharacter(char.IsSurrogatePair(text, end) ? char.ConvertToUtf32(text, end) : text[end]);
        return !endsWord && !startsWord;
    }

    /// <summary>
    /// Whether a code point is a word character in the sense of Rust's Unicode regex <c>\w</c>, which Hugging Face
    /// uses: Alphabetic, a mark, a decimal digit, connector punctuation (<c>_</c>) or a join control (ZWNJ, ZWJ).
    /// Alphabetic is the letters, letter numbers and Other_Alphabetic; the Other_Alphabetic characters that are not
    /// marks are the circled and squared Latin letters listed here (checked against Hugging Face over every code
    /// point). Code points, not UTF-16 units: a supplementary letter before a token is a letter.
    /// </summary>
    internal static bool IsWordCharacter(int codePoint) =>
        CharUnicodeInfo.GetUnicodeCategory(codePoint) is UnicodeCategory.UppercaseLetter or UnicodeCategory.LowercaseLetter
            or UnicodeCategory.TitlecaseLetter or UnicodeCategory.ModifierLetter or UnicodeCategory.OtherLetter
            or UnicodeCategory.LetterNumber or UnicodeCategory.NonSpacingMark or UnicodeCategory.SpacingCombiningMark
            or UnicodeCategory.EnclosingMark or UnicodeCategory.DecimalDigitNumber or UnicodeCategory.ConnectorPunctuation
        || codePoint is 0x200C or 0x200D
        || codePoint is >= 0x24B6 and <= 0x24E9 or >= 0x1F130 and <= 0x1F149 or >= 0x1F150 and <= 0x1F169 or >= 0x1F170 and <= 0x1F189;
}
