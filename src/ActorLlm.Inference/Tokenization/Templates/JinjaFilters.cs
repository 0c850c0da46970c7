using System.Globalization;
using System.Text;

namespace ActorLlm.Inference.Tokenization.Templates;

/// <summary>
/// jinja2's filters that chat templates use, with jinja2's semantics (including its quirks: <c>title</c> splits on
/// spaces, dashes and brackets only; <c>unique</c> and <c>sort</c> ignore case by default; <c>int</c> accepts "42.7"),
/// and transformers' <c>tojson</c> (Python's json.dumps). <c>reverse</c>, <c>unique</c>, <c>map</c> and friends return
/// lists where jinja2 returns generators (only their printed form differs).
/// </summary>
internal static class JinjaFilters
{
    private delegate object? Filter(JinjaRenderer renderer, object? value, JinjaArguments args);

    private static readonly Dictionary<string, Filter> s_filters = new(StringComparer.Ordinal)
    {
        ["abs"] = (_, v, _) => Abs(v),
        ["attr"] = (_, v, a) => Attr(v, a),
        ["capitalize"] = (_, v, _) => PyString.Capitalize(PyOps.Str(v)),
        ["count"] = (_, v, _) => PyOps.Length(v),
        ["length"] = (_, v, _) => PyOps.Length(v),
        ["default"] = (_, v, a) => Default(v, a.Check("default", "default_value", "boolean")),
        ["d"] = (_, v, a) => Default(v, a.Check("d", "default_value", "boolean")),
        ["dictsort"] = (_, v, a) => DictSort(v, a.Check("dictsort", "case_sensitive", "by", "reverse")),
        ["escape"] = (_, v, _) => Escape(v),
        ["e"] = (_, v, _) => Escape(v),
        ["first"] = (_, v, _) => PyOps.Iterate(v) is { Count: > 0 } items ? items[0] : JinjaUndefined.WithHint("No first item, sequence was empty."),
        ["last"] = (_, v, _) => PyOps.Iterate(v) is { Count: > 0 } items ? items[^1] : JinjaUndefined.WithHint("No last item, sequence was empty."),
        ["float"] = (_, v, a) => ToFloat(v, a.Check("float", "default").Get(0, "default", 0.0)),
        ["format"] = (_, v, a) => a.Keywords.Count > 0
            ? throw new ChatTemplateException(ChatTemplateErrorKind.Runtime, "format with keyword arguments is not supported by this engine")
            : PyFormat.Percent(PyOps.Str(v), a.Positional),
        ["indent"] = (_, v, a) => Indent(PyOps.Str(v), a.Check("indent", "width", "first", "blank")),
        ["int"] = (_, v, a) => ToInt(v, a.Check("int", "default", "base")),
        ["items"] = (_, v, _) => Items(v),
        ["join"] = (r, v, a) => Join(r, v, a.Check("join", "d", "attribute")),
        ["list"] = (_, v, _) => PyOps.Iterate(v).ToList(),
        ["lower"] = (_, v, _) => PyString.Lower(PyOps.Str(v)),
        ["upper"] = (_, v, _) => PyString.Upper(PyOps.Str(v)),
        ["map"] = Map,
        ["max"] = (_, v, a) => MinMax(v, a.Check("max", "case_sensitive", "attribute"), max: true),
        ["min"] = (_, v, a) => MinMax(v, a.Check("min", "case_sensitive", "attribute"), max: false),
        ["select"] = (r, v, a) => Select(r, v, a, byAttribute: false, keep: true),
        ["reject"] = (r, v, a) => Select(r, v, a, byAttribute: false, keep: false),
        ["selectattr"] = (r, v, a) => Select(r, v, a, byAttribute: true, keep: true),
        ["rejectattr"] = (r, v, a) => Select(r, v, a, byAttribute: true, keep: false),
        ["replace"] = (r, v, a) => Replace(r, v, a.Check("replace", "old", "new", "count")),
        ["reverse"] = (_, v, _) => v is string s ? string.Concat(PyString.Characters(s).AsEnumerable().Reverse()) : PyOps.Iterate(v).Reverse().ToList(),
        ["round"] = (_, v, a) => Round(v, a.Check("round", "precision", "method")),
        ["safe"] = (_, v, _) => PyOps.Str(v),
        ["sort"] = (_, v, a) => Sort(v, a.Check("sort", "reverse", "case_sensitive", "attribute")),
        ["string"] = (_, v, _) => PyOps.Str(v),
        ["sum"] = (r, v, a) => Sum(r, v, a.Check("sum", "attribute", "start")),
        ["title"] = (_, v, _) => Title(PyOps.Str(v)),
        ["tojson"] = (_, v, a) => ToJson(v, a.Check("tojson", "ensure_ascii", "indent", "separators", "sort_keys")),
        ["trim"] = (_, v, a) => PyString.Strip(PyOps.Str(v), a.Check("trim", "chars").Get(0, "chars") as string, left: true, right: true),
        ["unique"] = (_, v, a) => Unique(v, a.Check("unique", "case_sensitive", "attribute")),
        ["wordcount"] = (_, v, _) => (long)PyString.Split(PyOps.Str(v), null, -1).Count,
    };

    public static bool Has(string name) => s_filters.ContainsKey(name);

    public static object? Apply(JinjaRenderer renderer, string name, object? value, JinjaArguments args) =>
        s_filters.TryGetValue(name, out var filter)
            ? filter(renderer, value, args)
            : throw new ChatTemplateException(ChatTemplateErrorKind.Runtime, $"no filter named '{name}'");

    private static object? Abs(object? value) => value switch
    {
        long l => l == long.MinValue ? throw PyOps.Overflow() : (object)Math.Abs(l),
        double d => (object)Math.Abs(d),
        bool b => b ? 1L : 0L,
        JinjaUndefined u => throw u.Fail(),
        _ => throw PyOps.TypeError($"bad operand type for abs(): '{PyOps.TypeName(value)}'"),
    };

    private static object? Attr(object? value, JinjaArguments args)
    {
        var name = args.Check("attr", "name").Get(0, "name") as string ?? throw PyOps.TypeError("attribute name must be a string");
        return value switch
        {
            JinjaNamespace or LoopContext => JinjaAccess.GetAttr(value, name),
            JinjaUndefined u => throw u.Fail(),
            _ => JinjaMethods.Bind(value, name) ?? JinjaUndefined.NoAttribute(value, name),
        };
    }

    private static object? Default(object? value, JinjaArguments args)
    {
        var useDefault = value is JinjaUndefined || (PyOps.Truthy(args.Get(1, "boolean", false)) && !PyOps.Truthy(value));
        return useDefault ? args.Get(0, "default_value", "") : value;
    }

    /// <summary>markupsafe's escape of <c>str(value)</c>.</summary>
    private static string Escape(object? value) => PyOps.Str(value)
        .Replace("&", "&amp;").Replace("<", "&lt;").Replace(">", "&gt;").Replace("\"", "&#34;").Replace("'", "&#39;");

    private static object? ToFloat(object? value, object? fallback)
    {
        switch (value)
        {
            case double d:
                return d;
            case long or bool:
                return Convert.ToDouble(value is bool b ? (b ? 1 : 0) : (long)value, CultureInfo.InvariantCulture);
            case string s when TryParseFloat(s, out var parsed):
                return parsed;
            case JinjaUndefined u:
                throw u.Fail();
            default:
                return fallback;
        }
    }

    private static bool TryParseFloat(string s, out double value)
    {
        var text = PyString.Strip(s, null, left: true, right: true).Replace("_", "");
        switch (text.ToLowerInvariant())
        {
            case "inf" or "+inf" or "infinity" or "+infinity":
                value = double.PositiveInfinity;
                return true;
            case "-inf" or "-infinity":
                value = double.NegativeInfinity;
                return true;
            case "nan" or "+nan" or "-nan":
                value = double.NaN;
                return true;
        }

        return double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out value) && text.Length > 0 && !text.Contains(',');
    }

    /// <summary>jinja2's <c>int</c>: Python's int(value), else int(float(value)) ("42.7" gives 42), else the default.</summary>
    private static object? ToInt(object? value, JinjaArguments args)
    {
        var fallback = args.Get(0, "default", 0L);
        var numberBase = args.Get(1, "base", 10L) is long b ? (int)b : 10;
        switch (value)
        {
            case long:
                return value;
            case bool flag:
                return flag ? 1L : 0L;
            case double d:
                return double.IsFinite(d) && Math.Abs(d) < 9.2e18 ? (long)Math.Truncate(d) : throw PyOps.Overflow();
            case string s:
                var text = PyString.Strip(s, null, left: true, right: true).Replace("_", "");
                if (numberBase == 10 && long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var integer))
                {
                    return integer;
                }

                if (numberBase != 10 && TryParseBase(text, numberBase, out integer))
                {
                    return integer;
                }

                return TryParseFloat(s, out var parsed) && double.IsFinite(parsed) ? (long)Math.Truncate(parsed) : fallback;
            case JinjaUndefined u:
                throw u.Fail();
            default:
                return fallback;
        }
    }

    private static bool TryParseBase(string text, int numberBase, out long value)
    {
        value = 0;
        var negative = text.StartsWith('-');
        text = text.TrimStart('+', '-');
        var prefix = numberBase switch { 16 => "0x", 8 => "0o", 2 => "0b", _ => null };
        if (prefix is not null && text.StartsWith(prefix, StringComparison.OrdinalIgnoreCase))
        {
            text = text[2..];
        }

        if (text.Length == 0 || numberBase is < 2 or > 36)
        {
            return false;
        }

        foreach (var c in text.ToLowerInvariant())
        {
            var digit = char.IsAsciiDigit(c) ? c - '0' : c is >= 'a' and <= 'z' ? c - 'a' + 10 : 99;
            if (digit >= numberBase)
            {
                return false;
            }

            value = checked((value * numberBase) + digit);
        }

        value = negative ? -value : value;
        return true;
    }

    private static List<object?> Items(object? value) => value switch
    {
        Dictionary<string, object?> dict => dict.Select(kv => (object?)new PyTuple([kv.Key, kv.Value])).ToList(),
        JinjaUndefined => [],
        _ => throw PyOps.TypeError("Can only get item pairs from a mapping."),
    };

    private static string Join(JinjaRenderer renderer, object? value, JinjaArguments args)
    {
        var separator = PyOps.Str(args.Get(0, "d", ""));
        var items = PyOps.Iterate(value);
        if (args.Get(1, "attribute") is { } attribute)
        {
            var getter = AttributeGetter(attribute, null);
            items = items.Select(getter).ToList();
        }

        var result = string.Join(separator, items.Select(PyOps.Str));
        renderer.CheckString(result.Length);
        return result;
    }

    /// <summary>jinja2's <c>make_attrgetter</c>: "a.b.0" looks up a, then b, then item 0, each by subscript.</summary>
    private static Func<object?, object?> AttributeGetter(object? attribute, object? fallback, bool lower = false)
    {
        var parts = attribute switch
        {
            string s => s.Split('.').Select(p => long.TryParse(p, NumberStyles.None, CultureInfo.InvariantCulture, out var i) ? (object)i : p).ToArray(),
            long l => [(object)l],
            _ => throw PyOps.TypeError("attribute must be a string or an integer"),
        };
        return item =>
        {
            foreach (var part in parts)
            {
                item = JinjaAccess.GetItem(item, part);
            }

            if (item is JinjaUndefined && fallback is not null)
            {
                item = fallback;
            }

            return lower && item is string s ? s.ToLowerInvariant() : item;
        };
    }

    private static object? Map(JinjaRenderer renderer, object? value, JinjaArguments args)
    {
        var items = PyOps.Iterate(value);
        if (args.Positional.Count == 0)
        {
            var attribute = args.Get(-1, "attribute") ?? throw PyOps.TypeError("map requires a filter argument");
            var getter = AttributeGetter(attribute, args.Get(-1, "default"));
            return items.Select(getter).ToList();
        }

        var name = args.Positional[0] as string ?? throw PyOps.TypeError("map's filter name must be a string");
        if (!Has(name))
        {
            throw new ChatTemplateException(ChatTemplateErrorKind.Runtime, $"no filter named '{name}'");
        }

        var rest = new JinjaArguments(args.Positional.Skip(1).ToList(), args.Keywords);
        return items.Select(item => Apply(renderer, name, item, rest)).ToList();
    }

    private static object? MinMax(object? value, JinjaArguments args, bool max)
    {
        var items = PyOps.Iterate(value);
        if (items.Count == 0)
        {
            return JinjaUndefined.WithHint("No aggregated item, sequence was empty.");
        }

        var key = KeyFunction(args.Get(0, "case_sensitive", false), args.Get(1, "attribute"));
        var best = items[0];
        foreach (var item in items.Skip(1))
        {
            var order = PyOps.Compare(key(item), key(best), max ? ">" : "<");
            if (max ? order is > 0 and not 2 : order < 0)
            {
                best = item;
            }
        }

        return best;
    }

    private static Func<object?, object?> KeyFunction(object? caseSensitive, object? attribute)
    {
        var lower = !PyOps.Truthy(caseSensitive);
        return attribute is null
            ? item => lower && item is string s ? s.ToLowerInvariant() : item
            : AttributeGetter(attribute, null, lower);
    }

    private static List<object?> Select(JinjaRenderer renderer, object? value, JinjaArguments args, bool byAttribute, bool keep)
    {
        var items = PyOps.Iterate(value);
        var positional = args.Positional;
        Func<object?, object?> getter = item => item;
        if (byAttribute)
        {
            if (positional.Count == 0)
            {
                throw PyOps.TypeError("missing parameter for attribute name");
            }

            getter = AttributeGetter(positional[0], null);
            positional = positional.Skip(1).ToList();
        }

        Func<object?, bool> test = item => PyOps.Truthy(item);
        if (positional.Count > 0)
        {
            var name = positional[0] as string ?? throw PyOps.TypeError("test name must be a string");
            if (!JinjaTests.Has(name))
            {
                throw new ChatTemplateException(ChatTemplateErrorKind.Runtime, $"no test named '{name}'");
            }

            var testArgs = new JinjaArguments(positional.Skip(1).ToList(), args.Keywords);
            test = item => JinjaTests.Apply(name, item, testArgs);
        }

        renderer.CountIterations(items.Count);
        return items.Where(item => test(getter(item)) == keep).ToList();
    }

    private static string Replace(JinjaRenderer renderer, object? value, JinjaArguments args)
    {
        var count = args.Get(2, "count") switch
        {
            null => -1L,
            long l => l,
            var other => throw PyOps.TypeError($"'{PyOps.TypeName(other)}' object cannot be interpreted as an integer"),
        };
        var result = PyString.Replace(PyOps.Str(value), PyOps.Str(args.Get(0, "old")), PyOps.Str(args.Get(1, "new")), count);
        renderer.CheckString(result.Length);
        return result;
    }

    private static object? Round(object? value, JinjaArguments args)
    {
        var precision = args.Get(0, "precision", 0L) is long p ? (int)Math.Clamp(p, -20, 20) : 0;
        var method = args.Get(1, "method", "common") as string;
        var number = value switch
        {
            long or bool when method == "common" => (object?)(value is bool b ? (b ? 1L : 0L) : value),
            long l => (double)l,
            bool b => b ? 1.0 : 0.0,
            double d => d,
            JinjaUndefined u => throw u.Fail(),
            _ => throw PyOps.TypeError($"type {PyOps.TypeName(value)} doesn't define __round__ method"),
        };
        if (number is long integer)
        {
            return integer;
        }

        var x = (double)number!;
        var scale = Math.Pow(10, precision);
        return method switch
        {
            "common" => precision >= 0 ? Math.Round(x, Math.Min(precision, 15), MidpointRounding.ToEven) : Math.Round(x / scale, MidpointRounding.ToEven) * scale,
            "ceil" => Math.Ceiling(x * scale) / scale,
            "floor" => Math.Floor(x * scale) / scale,
            _ => throw new ChatTemplateException(ChatTemplateErrorKind.Runtime, "method must be common, ceil or floor"),
        };
    }

    /// <summary>A stable sort as Python's <c>sorted(key=..., reverse=...)</c> (equal items keep their order either way).</summary>
    private static List<object?> Sort(object? value, JinjaArguments args)
    {
        var key = KeyFunction(args.Get(1, "case_sensitive", false), args.Get(2, "attribute"));
        var reverse = PyOps.Truthy(args.Get(0, "reverse", false));
        var keyed = PyOps.Iterate(value).Select((item, index) => (Key: key(item), Index: index, Item: item)).ToList();
        keyed.Sort((x, y) =>
        {
            var order = PyOps.Compare(x.Key, y.Key, "<");
            return order is 0 or 2 ? x.Index.CompareTo(y.Index) : reverse ? -order : order;
        });
        return keyed.Select(k => k.Item).ToList();
    }

    private static List<object?> DictSort(object? value, JinjaArguments args)
    {
        if (value is not Dictionary<string, object?> dict)
        {
            throw PyOps.TypeError("dictsort expects a mapping");
        }

        var position = (args.Get(1, "by", "key") as string) switch
        {
            "key" => 0L,
            "value" => 1L,
            _ => throw PyOps.ValueError("You can only sort by either \"key\" or \"value\""),
        };
        var pairs = dict.Select(kv => (object?)new PyTuple([kv.Key, kv.Value])).ToList();
        return Sort(pairs, new JinjaArguments([args.Get(2, "reverse", false), args.Get(0, "case_sensitive", false), position], []));
    }

    private static object? Sum(JinjaRenderer renderer, object? value, JinjaArguments args)
    {
        var items = PyOps.Iterate(value);
        if (args.Get(0, "attribute") is { } attribute)
        {
            items = items.Select(AttributeGetter(attribute, null)).ToList();
        }

        var total = args.Get(1, "start", 0L);
        foreach (var item in items)
        {
            total = PyOps.Arithmetic("+", total, item, renderer.Limits);
        }

        return total;
    }

    /// <summary>jinja2's <c>title</c>: words split on runs of whitespace, dashes and opening brackets; each word's first letter upper, the rest lower.</summary>
    private static string Title(string s)
    {
        var builder = new StringBuilder(s.Length);
        var wordStart = true;
        foreach (var c in PyString.Characters(s))
        {
            var separator = (c.Length == 1 && PyString.IsSpace(c[0])) || c is "-" or "(" or "{" or "[" or "<";
            if (separator)
            {
                builder.Append(c);
                wordStart = true;
            }
            else
            {
                builder.Append(wordStart ? c.ToUpperInvariant() : c.ToLowerInvariant());
                wordStart = false;
            }
        }

        return builder.ToString();
    }

    private static string ToJson(object? value, JinjaArguments args) => PyJson.Dumps(
        value,
        ensureAscii: PyOps.Truthy(args.Get(0, "ensure_ascii", false)),
        indent: args.Get(1, "indent"),
        separators: args.Get(2, "separators"),
        sortKeys: PyOps.Truthy(args.Get(3, "sort_keys", false)));

    private static List<object?> Unique(object? value, JinjaArguments args)
    {
        var key = KeyFunction(args.Get(0, "case_sensitive", false), args.Get(1, "attribute"));
        var seen = new List<object?>();
        var result = new List<object?>();
        foreach (var item in PyOps.Iterate(value))
        {
            var k = key(item);
            if (!seen.Any(s => PyOps.Equal(s, k)))
            {
                seen.Add(k);
                result.Add(item);
            }
        }

        return result;
    }

    /// <summary>jinja2's <c>indent</c>: every line but the first (and the first too with <c>first</c>) gets the indentation; blank lines only with <c>blank</c>.</summary>
    private static string Indent(string s, JinjaArguments args)
    {
        var width = args.Get(0, "width", 4L);
        var indentation = width is string text ? text : new string(' ', (int)Math.Clamp(width is long w ? w : 4, 0, 1000));
        var lines = PyString.SplitLines(s + "\n").Cast<string>().ToList();
        string result;
        if (PyOps.Truthy(args.Get(2, "blank", false)))
        {
            result = string.Join("\n" + indentation, lines);
        }
        else
        {
            result = lines[0];
            if (lines.Count > 1)
            {
                result += "\n" + string.Join("\n", lines.Skip(1).Select(line => line.Length > 0 ? indentation + line : line));
            }
        }

        return PyOps.Truthy(args.Get(1, "first", false)) ? indentation + result : result;
    }
}
