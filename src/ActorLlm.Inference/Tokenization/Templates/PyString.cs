using System.Globalization;
using System.Text;

namespace ActorLlm.Inference.Tokenization.Templates;

/// <summary>
/// Python <c>str</c> semantics on .NET strings: lengths, indexes and slices count code points (an emoji is one
/// character, as in Python), whitespace is Python's <c>str.isspace</c>, and the methods templates call
/// (<c>strip</c>, <c>split</c>, <c>title</c>, ...) behave as CPython's.
/// </summary>
internal static class PyString
{
    /// <summary>Python's <c>str.isspace()</c> for one code point.</summary>
    public static bool IsSpace(int c) => c is (>= 0x09 and <= 0x0D) or (>= 0x1C and <= 0x20) or 0x85 or 0xA0 or 0x1680
        or (>= 0x2000 and <= 0x200A) or 0x2028 or 0x2029 or 0x202F or 0x205F or 0x3000;

    public static bool IsSpace(char c) => IsSpace((int)c);

    public static bool HasSurrogates(string s)
    {
        foreach (var c in s)
        {
            if (char.IsSurrogate(c))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>The string's code points, each as a string (what iterating a Python str yields).</summary>
    public static List<string> Characters(string s)
    {
        var result = new List<string>(s.Length);
        for (var i = 0; i < s.Length; i++)
        {
            if (char.IsHighSurrogate(s[i]) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1]))
            {
                result.Add(s.Substring(i, 2));
                i++;
            }
            else
            {
                result.Add(s[i].ToString());
            }
        }

        return result;
    }

    public static int Length(string s) => HasSurrogates(s) ? Characters(s).Count : s.Length;

    public static string Strip(string s, string? chars, bool left, bool right)
    {
        var characters = Characters(s);
        var set = chars is null ? null : new HashSet<string>(Characters(chars), StringComparer.Ordinal);
        bool Strippable(string c) => set is null ? c.Length == 1 && IsSpace(c[0]) : set.Contains(c);
        var start = 0;
        var end = characters.Count;
        while (left && start < end && Strippable(characters[start]))
        {
            start++;
        }

        while (right && end > start && Strippable(characters[end - 1]))
        {
            end--;
        }

        return string.Concat(characters.Skip(start).Take(end - start));
    }

    /// <summary>Python's <c>str.split(sep=None, maxsplit=-1)</c>.</summary>
    public static List<object?> Split(string s, string? separator, long maxSplit)
    {
        var result = new List<object?>();
        if (separator is null)
        {
            var i = 0;
            while (true)
            {
                while (i < s.Length && IsSpace(s[i]))
                {
                    i++;
                }

                if (i >= s.Length)
                {
                    break;
                }

                if (maxSplit >= 0 && result.Count >= maxSplit)
                {
                    result.Add(TrimEndSpace(s[i..]));
                    break;
                }

                var start = i;
                while (i < s.Length && !IsSpace(s[i]))
                {
                    i++;
                }

                result.Add(s[start..i]);
            }

            return result;
        }

        if (separator.Length == 0)
        {
            throw PyOps.ValueError("empty separator");
        }

        var position = 0;
        while (maxSplit < 0 || result.Count < maxSplit)
        {
            var next = s.IndexOf(separator, position, StringComparison.Ordinal);
            if (next < 0)
            {
                break;
            }

            result.Add(s[position..next]);
            position = next + separator.Length;
        }

        result.Add(s[position..]);
        return result;
    }

    /// <summary>Python's <c>str.rsplit(sep=None, maxsplit=-1)</c>.</summary>
    public static List<object?> RSplit(string s, string? separator, long maxSplit)
    {
        if (maxSplit < 0)
        {
            return Split(s, separator, maxSplit);
        }

        var result = new List<object?>();
        if (separator is null)
        {
            var i = s.Length;
            while (true)
            {
                while (i > 0 && IsSpace(s[i - 1]))
                {
                    i--;
                }

                if (i <= 0)
                {
                    break;
                }

                if (result.Count >= maxSplit)
                {
                    result.Add(TrimStartSpace(s[..i]));
                    break;
                }

                var end = i;
                while (i > 0 && !IsSpace(s[i - 1]))
                {
                    i--;
                }

                result.Add(s[i..end]);
            }

            result.Reverse();
            return result;
        }

        if (separator.Length == 0)
        {
            throw PyOps.ValueError("empty separator");
        }

        var position = s.Length;
        while (result.Count < maxSplit)
        {
            var next = position - separator.Length < 0 ? -1 : s.LastIndexOf(separator, position - 1, position, StringComparison.Ordinal);
            if (next < 0 || next + separator.Length > position)
            {
                break;
            }

            result.Add(s[(next + separator.Length)..position]);
            position = next;
        }

        result.Add(s[..position]);
        result.Reverse();
        return result;
    }

    private static string TrimEndSpace(string s)
    {
        var end = s.Length;
        while (end > 0 && IsSpace(s[end - 1]))
        {
            end--;
        }

        return s[..end];
    }

    private static string TrimStartSpace(string s)
    {
        var start = 0;
        while (start < s.Length && IsSpace(s[start]))
        {
            start++;
        }

        return s[start..];
    }

    /// <summary>Python's <c>str.splitlines()</c> (without keepends).</summary>
    public static List<object?> SplitLines(string s)
    {
        var result = new List<object?>();
        var start = 0;
        var i = 0;
        while (i < s.Length)
        {
            var c = s[i];
            if (c is '\n' or '\r' or '\v' or '\f' or '\x1c' or '\x1d' or '\x1e' or '\x85' or '\u2028' or '\u2029')
            {
                result.Add(s[start..i]);
                i += c == '\r' && i + 1 < s.Length && s[i + 1] == '\n' ? 2 : 1;
                start = i;
            }
            else
            {
                i++;
            }
        }

        if (start < s.Length)
        {
            result.Add(s[start..]);
        }

        return result;
    }

    /// <summary>Python's <c>str.replace(old, new, count=-1)</c> (an empty <paramref name="old"/> inserts between characters).</summary>
    public static string Replace(string s, string old, string replacement, long count)
    {
        if (count == 0)
        {
            return s;
        }

        var builder = new StringBuilder();
        if (old.Length == 0)
        {
            var characters = Characters(s);
            var done = 0L;
            foreach (var c in characters)
            {
                if (count < 0 || done < count)
                {
                    builder.Append(replacement);
                    done++;
                }

                builder.Append(c);
            }

            if (count < 0 || done < count)
            {
                builder.Append(replacement);
            }

            return builder.ToString();
        }

        var position = 0;
        var replaced = 0L;
        while (count < 0 || replaced < count)
        {
            var next = s.IndexOf(old, position, StringComparison.Ordinal);
            if (next < 0)
            {
                break;
            }

            builder.Append(s, position, next - position).Append(replacement);
            position = next + old.Length;
            replaced++;
        }

        return builder.Append(s, position, s.Length - position).ToString();
    }

    public static string Upper(string s) => s.ToUpperInvariant();

    public static string Lower(string s) => s.ToLowerInvariant();

    /// <summary>Python's <c>str.title()</c>: a cased character after an uncased one starts a word ("they're" gives "They'Re").</summary>
    public static string Title(string s)
    {
        var builder = new StringBuilder(s.Length);
        var previousCased = false;
        foreach (var c in Characters(s))
        {
            var cased = IsCased(c);
            builder.Append(cased ? (previousCased ? c.ToLowerInvariant() : c.ToUpperInvariant()) : c);
            previousCased = cased;
        }

        return builder.ToString();
    }

    /// <summary>Python's <c>str.capitalize()</c>: first character upper case, the rest lower case.</summary>
    public static string Capitalize(string s)
    {
        var characters = Characters(s);
        if (characters.Count == 0)
        {
            return s;
        }

        return characters[0].ToUpperInvariant() + string.Concat(characters.Skip(1)).ToLowerInvariant();
    }

    private static bool IsCased(string c)
    {
        var rune = Rune.GetRuneAt(c, 0);
        return Rune.IsLetter(rune) && (Rune.ToUpperInvariant(rune) != rune || Rune.ToLowerInvariant(rune) != rune
            || Rune.GetUnicodeCategory(rune) == UnicodeCategory.TitlecaseLetter);
    }

    public static bool IsLower(string s) => HasCased(s, out var anyUpper) && !anyUpper && s != s.ToUpperInvariant();

    public static bool IsUpper(string s) => HasCased(s, out _) && s == s.ToUpperInvariant() && s != s.ToLowerInvariant();

    private static bool HasCased(string s, out bool anyUpper)
    {
        var any = false;
        anyUpper = false;
        foreach (var c in Characters(s))
        {
            if (IsCased(c))
            {
                any = true;
                anyUpper |= Rune.IsUpper(Rune.GetRuneAt(c, 0));
            }
        }

        return any;
    }

    /// <summary>Code point order, as Python compares strings (UTF-16 order differs above the surrogates).</summary>
    public static int CompareOrdinalCodePoints(string a, string b)
    {
        var i = 0;
        var j = 0;
        while (i < a.Length && j < b.Length)
        {
            var x = Rune.GetRuneAt(a, i);
            var y = Rune.GetRuneAt(b, j);
            if (x != y)
            {
                return x.Value.CompareTo(y.Value);
            }

            i += x.Utf16SequenceLength;
            j += y.Utf16SequenceLength;
        }

        return (a.Length - i).CompareTo(b.Length - j);
    }
}

/// <summary>Python's <c>repr()</c> of the engine's values, and <c>float.__repr__</c>.</summary>
internal static class PyRepr
{
    public static string Of(object? value) => PyOps.Repr(value);

    /// <summary>Python's repr of a str: single quotes unless the text has one and no double quote; escapes for non-printables.</summary>
    public static string String(string s)
    {
        var quote = s.Contains('\'') && !s.Contains('"') ? '"' : '\'';
        var builder = new StringBuilder(s.Length + 2).Append(quote);
        for (var i = 0; i < s.Length; i++)
        {
            var c = s[i];
            if (c == quote || c == '\\')
            {
                builder.Append('\\').Append(c);
            }
            else if (c == '\n')
            {
                builder.Append("\\n");
            }
            else if (c == '\r')
            {
                builder.Append("\\r");
            }
            else if (c == '\t')
            {
                builder.Append("\\t");
            }
            else if (char.IsHighSurrogate(c) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1]))
            {
                var rune = new Rune(c, s[i + 1]);
                AppendCodePoint(builder, rune.Value, IsPrintable(rune));
                i++;
            }
            else if (char.IsSurrogate(c))
            {
                builder.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
            }
            else
            {
                AppendCodePoint(builder, c, IsPrintable(new Rune(c)));
            }
        }

        return builder.Append(quote).ToString();
    }

    private static void AppendCodePoint(StringBuilder builder, int codePoint, bool printable)
    {
        if (printable)
        {
            builder.Append(char.ConvertFromUtf32(codePoint));
        }
        else if (codePoint < 0x100)
        {
            builder.Append("\\x").Append(codePoint.ToString("x2", CultureInfo.InvariantCulture));
        }
        else if (codePoint < 0x10000)
        {
            builder.Append("\\u").Append(codePoint.ToString("x4", CultureInfo.InvariantCulture));
        }
        else
        {
            builder.Append("\\U").Append(codePoint.ToString("x8", CultureInfo.InvariantCulture));
        }
    }

    /// <summary>Python's <c>str.isprintable()</c> for one code point: not Other or Separator, except the space.</summary>
    private static bool IsPrintable(Rune rune)
    {
        if (rune.Value == ' ')
        {
            return true;
        }

        return Rune.GetUnicodeCategory(rune) switch
        {
            UnicodeCategory.Control or UnicodeCategory.Format or UnicodeCategory.Surrogate or UnicodeCategory.PrivateUse
                or UnicodeCategory.OtherNotAssigned or UnicodeCategory.LineSeparator or UnicodeCategory.ParagraphSeparator
                or UnicodeCategory.SpaceSeparator => false,
            _ => true,
        };
    }

    /// <summary>
    /// Python's <c>repr(float)</c>: the shortest digits that round-trip, fixed notation when the decimal exponent is in
    /// [-4, 16) ("1.0", "0.0001", "1e-05", "1e+16"), "inf", "-inf", "nan".
    /// </summary>
    public static string Float(double value)
    {
        if (double.IsNaN(value))
        {
            return "nan";
        }

        if (double.IsInfinity(value))
        {
            return value > 0 ? "inf" : "-inf";
        }

        if (value == 0)
        {
            return double.IsNegative(value) ? "-0.0" : "0.0";
        }

        // "E16" is not shortest; "R" is. Parse R's digits and exponent, then lay them out as Python does.
        var r = Math.Abs(value).ToString("R", CultureInfo.InvariantCulture);
        var exponent = 0;
        var e = r.IndexOfAny(['E', 'e']);
        if (e >= 0)
        {
            exponent = int.Parse(r[(e + 1)..], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture);
            r = r[..e];
        }

        var point = r.IndexOf('.');
        var digits = point < 0 ? r : r.Remove(point, 1);
        var integerDigits = point < 0 ? r.Length : point;
        var leadingZeros = 0;
        while (leadingZeros < digits.Length - 1 && digits[leadingZeros] == '0')
        {
            leadingZeros++;
        }

        digits = digits[leadingZeros..].TrimEnd('0');
        if (digits.Length == 0)
        {
            digits = "0";
        }

        // decimal exponent of the first significant digit
        var decimalExponent = exponent + integerDigits - 1 - leadingZeros;
        var sign = value < 0 ? "-" : "";
        if (decimalExponent is >= -4 and < 16)
        {
            string text;
            if (decimalExponent >= digits.Length - 1)
            {
                text = digits + new string('0', decimalExponent - digits.Length + 1) + ".0";
            }
            else if (decimalExponent >= 0)
            {
                text = digits[..(decimalExponent + 1)] + "." + digits[(decimalExponent + 1)..];
            }
            else
            {
                text = "0." + new string('0', -decimalExponent - 1) + digits;
            }

            return sign + text;
        }

        var mantissa = digits.Length == 1 ? digits : digits[0] + "." + digits[1..];
        var exponentText = Math.Abs(decimalExponent).ToString("00", CultureInfo.InvariantCulture);
        return $"{sign}{mantissa}e{(decimalExponent < 0 ? '-' : '+')}{exponentText}";
    }
}
