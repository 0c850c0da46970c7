using System.Globalization;
using System.Text;

namespace ActorLlm.Inference.Tokenization.Templates;

/// <summary>Python's printf-style <c>str % values</c> (also jinja2's <c>format</c> filter): %s %r %d %i %f %e %x %o %c %%, flags, width, precision.</summary>
internal static class PyFormat
{
    public static string Percent(string format, IReadOnlyList<object?> values)
    {
        var builder = new StringBuilder();
        var next = 0;
        for (var i = 0; i < format.Length; i++)
        {
            var c = format[i];
            if (c != '%')
            {
                builder.Append(c);
                continue;
            }

            i++;
            if (i >= format.Length)
            {
                throw PyOps.ValueError("incomplete format");
            }

            if (format[i] == '%')
            {
                builder.Append('%');
                continue;
            }

            var flags = "";
            while (i < format.Length && "-+ #0".Contains(format[i]))
            {
                flags += format[i++];
            }

            var width = ReadNumber(format, ref i, values, ref next);
            int? precision = null;
            if (i < format.Length && format[i] == '.')
            {
                i++;
                precision = ReadNumber(format, ref i, values, ref next) ?? 0;
            }

            while (i < format.Length && format[i] is 'h' or 'l' or 'L')
            {
                i++;
            }

            if (i >= format.Length)
            {
                throw PyOps.ValueError("incomplete format");
            }

            if (next >= values.Count)
            {
                throw PyOps.TypeError("not enough arguments for format string");
            }

            var text = Convert(format[i], values[next++], flags, precision);
            builder.Append(Pad(text, width ?? 0, flags));
        }

        if (next < values.Count)
        {
            throw PyOps.TypeError("not all arguments converted during string formatting");
        }

        return builder.ToString();
    }

    private static int? ReadNumber(string format, ref int i, IReadOnlyList<object?> values, ref int next)
    {
        if (i < format.Length && format[i] == '*')
        {
            i++;
            if (next >= values.Count || values[next] is not long star)
            {
                throw PyOps.TypeError("* wants int");
            }

            next++;
            return (int)star;
        }

        var start = i;
        while (i < format.Length && char.IsAsciiDigit(format[i]))
        {
            i++;
        }

        return i > start ? int.Parse(format.AsSpan(start, i - start), CultureInfo.InvariantCulture) : null;
    }

    private static string Convert(char conversion, object? value, string flags, int? precision)
    {
        switch (conversion)
        {
            case 's':
                var s = PyOps.Str(value);
                return precision is { } p && p < s.Length ? s[..p] : s;
            case 'r' or 'a':
                return PyOps.Repr(value);
            case 'd' or 'i' or 'u':
                return Sign(ToInteger(value).ToString(CultureInfo.InvariantCulture), flags);
            case 'f' or 'F':
                return Sign(ToDouble(value).ToString("F" + (precision ?? 6), CultureInfo.InvariantCulture), flags);
            case 'e' or 'E':
                var e = ToDouble(value).ToString((conversion == 'e' ? "e" : "E") + (precision ?? 6), CultureInfo.InvariantCulture);
                return Sign(e.Replace("e+0", "e+").Replace("e-0", "e-").Replace("E+0", "E+").Replace("E-0", "E-"), flags);
            case 'x' or 'X':
                var x = ToInteger(value);
                var hex = Math.Abs(x).ToString(conversion == 'x' ? "x" : "X", CultureInfo.InvariantCulture);
                return Sign((x < 0 ? "-" : "") + (flags.Contains('#') ? (conversion == 'x' ? "0x" : "0X") : "") + hex, flags);
            case 'o':
                var o = ToInteger(value);
                return Sign((o < 0 ? "-" : "") + (flags.Contains('#') ? "0o" : "") + System.Convert.ToString(Math.Abs(o), 8), flags);
            case 'c':
                return value is string { Length: > 0 } c ? c : char.ConvertFromUtf32((int)ToInteger(value));
            default:
                throw PyOps.ValueError($"unsupported format character '{conversion}'");
        }
    }

    private static string Sign(string text, string flags) =>
        text.StartsWith('-') ? text : flags.Contains('+') ? "+" + text : flags.Contains(' ') ? " " + text : text;

    private static string Pad(string text, int width, string flags)
    {
        if (text.Length >= width)
        {
            return text;
        }

        if (flags.Contains('-'))
        {
            return text.PadRight(width);
        }

        if (flags.Contains('0') && text.Length > 0 && (char.IsAsciiDigit(text[^1]) || text[^1] is 'f' or 'n'))
        {
            var sign = text[0] is '-' or '+' or ' ' ? text[..1] : "";
            return sign + text[sign.Length..].PadLeft(width - sign.Length, '0');
        }

        return text.PadLeft(width);
    }

    private static long ToInteger(object? value) => value switch
    {
        long l => l,
        bool b => b ? 1 : 0,
        double d => double.IsFinite(d) ? (long)Math.Truncate(d) : throw PyOps.ValueError("cannot convert float to integer"),
        _ => throw PyOps.TypeError($"%d format: a real number is required, not {PyOps.TypeName(value)}"),
    };

    private static double ToDouble(object? value) => value switch
    {
        double d => d,
        long l => l,
        bool b => b ? 1 : 0,
        _ => throw PyOps.TypeError($"must be real number, not {PyOps.TypeName(value)}"),
    };
}
