using System.Globalization;
using System.Text;

namespace ActorLlm.Inference.Tokenization.Templates;

/// <summary>
/// Python's <c>json.dumps</c>, which transformers installs as the <c>tojson</c> filter (instead of jinja2's
/// HTML-escaping one): <c>ensure_ascii=False</c> by default, separators <c>", "</c> and <c>": "</c> (<c>","</c> between
/// items once indented), keys in insertion order unless <c>sort_keys</c>, floats as Python's repr.
/// </summary>
internal static class PyJson
{
    public static string Dumps(object? value, bool ensureAscii = false, object? indent = null, object? separators = null, bool sortKeys = false)
    {
        var indentText = indent switch
        {
            null => null,
            string s => s,
            long n => new string(' ', (int)Math.Clamp(n, 0, 1000)),
            bool b => b ? " " : "",
            _ => throw PyOps.TypeError($"indent must be an int or a str, not {PyOps.TypeName(indent)}"),
        };
        var (itemSeparator, keySeparator) = separators switch
        {
            null => (indentText is null ? ", " : ",", ": "),
            IReadOnlyList<object?> { Count: 2 } pair when pair[0] is string item && pair[1] is string key => (item, key),
            _ => throw PyOps.ValueError("separators must be an (item_separator, key_separator) pair of strings"),
        };
        var writer = new Writer(ensureAscii, indentText, itemSeparator, keySeparator, sortKeys);
        writer.Write(value, 0);
        return writer.ToString();
    }

    private sealed class Writer(bool ensureAscii, string? indent, string itemSeparator, string keySeparator, bool sortKeys)
    {
        private readonly StringBuilder _builder = new();

        public override string ToString() => _builder.ToString();

        public void Write(object? value, int depth)
        {
            if (depth > JinjaLimits.MaxValueDepth)
            {
                throw new ChatTemplateException(ChatTemplateErrorKind.LimitExceeded, $"a value is nested deeper than {JinjaLimits.MaxValueDepth} levels");
            }

            switch (value)
            {
                case null:
                    _builder.Append("null");
                    break;
                case bool b:
                    _builder.Append(b ? "true" : "false");
                    break;
                case long l:
                    _builder.Append(l.ToString(CultureInfo.InvariantCulture));
                    break;
                case double d:
                    _builder.Append(double.IsNaN(d) ? "NaN" : double.IsPositiveInfinity(d) ? "Infinity" : double.IsNegativeInfinity(d) ? "-Infinity" : PyRepr.Float(d));
                    break;
                case string s:
                    WriteString(s);
                    break;
                case IReadOnlyList<object?> list:
                    WriteContainer('[', ']', list.Count, depth, i => Write(list[i], depth + 1));
                    break;
                case Dictionary<string, object?> dict:
                    var entries = sortKeys
                        ? dict.OrderBy(kv => kv.Key, Comparer<string>.Create(PyString.CompareOrdinalCodePoints)).ToList()
                        : dict.ToList();
                    WriteContainer('{', '}', entries.Count, depth, i =>
                    {
                        WriteString(entries[i].Key);
                        _builder.Append(keySeparator);
                        Write(entries[i].Value, depth + 1);
                    });
                    break;
                default:
                    throw PyOps.TypeError($"Object of type {PyOps.TypeName(value)} is not JSON serializable");
            }
        }

        private void WriteContainer(char open, char close, int count, int depth, Action<int> writeItem)
        {
            _builder.Append(open);
            if (count == 0)
            {
                _builder.Append(close);
                return;
            }

            for (var i = 0; i < count; i++)
            {
                if (i > 0)
                {
                    _builder.Append(itemSeparator);
                }

                NewLine(depth + 1);
                writeItem(i);
            }

            NewLine(depth);
            _builder.Append(close);
        }

        private void NewLine(int level)
        {
            if (indent is not null)
            {
                _builder.Append('\n');
                for (var i = 0; i < level; i++)
                {
                    _builder.Append(indent);
                }
            }
        }

        private void WriteString(string s)
        {
            _builder.Append('"');
            foreach (var c in s)
            {
                switch (c)
                {
                    case '"':
                        _builder.Append("\\\"");
                        break;
                    case '\\':
                        _builder.Append("\\\\");
                        break;
                    case '\n':
                        _builder.Append("\\n");
                        break;
                    case '\r':
                        _builder.Append("\\r");
                        break;
                    case '\t':
                        _builder.Append("\\t");
                        break;
                    case '\b':
                        _builder.Append("\\b");
                        break;
                    case '\f':
                        _builder.Append("\\f");
                        break;
                    default:
                        if (c < 0x20 || (ensureAscii && c > 0x7E))
                        {
                            _builder.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                        }
                        else
                        {
                            _builder.Append(c);
                        }

                        break;
                }
            }

            _builder.Append('"');
        }
    }
}
