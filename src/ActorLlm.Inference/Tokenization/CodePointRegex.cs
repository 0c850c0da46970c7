using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace ActorLlm.Inference.Tokenization;

/// <summary>
/// A tokenizer regex (written for Oniguruma, which matches code points) run on .NET's regex engine,
/// which matches UTF-16 code units. Outside the Basic Multilingual Plane they disagree: .NET sees an
/// emoji or a CJK Extension B ideograph as two surrogates of category Cs, so in Llama 3's pattern
/// <c>[^\r\n\p{L}\p{N}]?\p{L}+</c> the text "🙂abc" splits as "🙂" + "abc" in .NET but is one piece
/// in Hugging Face. To match code points, each supplementary character is replaced by a stand-in BMP
/// character of the same Unicode category before matching, and match positions are mapped back.
/// </summary>
/// <remarks>
/// This is exact for patterns written with categories, classes and ASCII literals (all Llama-family
/// split patterns); a pattern naming a stand-in character literally would see a difference.
/// </remarks>
internal sealed class CodePointRegex
{
    private static readonly char[] s_standInByCategory = BuildStandIns();
    private readonly Regex _regex;

    private CodePointRegex(Regex regex) => _regex = regex;

    public static CodePointRegex Create(string pattern)
    {
        try
        {
            return new CodePointRegex(new Regex(pattern, RegexOptions.CultureInvariant | RegexOptions.Compiled));
        }
        catch (ArgumentException e)
        {
            throw new ModelFormatException($"the tokenizer regex '{pattern}' is not supported by .NET: {e.Message}", e);
        }
    }

    /// <summary>Start and length (in UTF-16 units of <paramref name="text"/>) of each non-empty match.</summary>
    public List<(int Start, int Length)> Matches(string text)
    {
        var result = new List<(int, int)>();
        var (subject, offsets) = StandInText(text);
        for (var match = _regex.Match(subject); match.Success; match = match.NextMatch())
        {
            if (match.Length == 0)
            {
                continue;
            }

            var start = offsets is null ? match.Index : offsets[match.Index];
            var end = offsets is null ? match.Index + match.Length : offsets[match.Index + match.Length];
            result.Add((start, end - start));
        }

        return result;
    }

    /// <summary>Replaces each match with <paramref name="content"/> taken literally (no $1 substitutions).</summary>
    public string Replace(string text, string content)
    {
        var builder = new StringBuilder(text.Length);
        var position = 0;
        foreach (var (start, length) in Matches(text))
        {
            builder.Append(text, position, start - position).Append(content);
            position = start + length;
        }

        return builder.Append(text, position, text.Length - position).ToString();
    }

    /// <summary>
    /// The text with supplementary characters replaced by stand-ins, and for each index of that text
    /// (plus one past the end) the matching index in the original; offsets is null when nothing changed.
    /// </summary>
    private static (string Subject, int[]? Offsets) StandInText(string text)
    {
        if (text.AsSpan().IndexOfAnyInRange('\uD800', '\uDFFF') < 0)
        {
            return (text, null);
        }

        var subject = new StringBuilder(text.Length);
        var offsets = new List<int>(text.Length + 1);
        for (var i = 0; i < text.Length; i++)
        {
            offsets.Add(i);
            if (char.IsHighSurrogate(text[i]) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
            {
                var category = CharUnicodeInfo.GetUnicodeCategory(char.ConvertToUtf32(text[i], text[i + 1]));
                subject.Append(s_standInByCategory[(int)category]);
                i++;
            }
            else
            {
                subject.Append(text[i]);
            }
        }

        offsets.Add(text.Length);
        return (subject.ToString(), [.. offsets]);
    }

    /// <summary>For each Unicode category, the first non-ASCII, non-space BMP character of that category.</summary>
    private static char[] BuildStandIns()
    {
        var standIns = new char[Enum.GetValues<UnicodeCategory>().Length];
        Array.Fill(standIns, '\uFFFD');
        var found = new bool[standIns.Length];
        for (int c = 0xA1; c <= 0xFFFD; c++)
        {
            var ch = (char)c;
            var category = (int)CharUnicodeInfo.GetUnicodeCategory(ch);
            if (!found[category] && !char.IsSurrogate(ch) && !char.IsWhiteSpace(ch))
            {
                standIns[category] = ch;
                found[category] = true;
            }
        }

        return standIns;
    }
}
