using System.Globalization;
using System.Text;

namespace ActorLlm.Inference.Tokenization.Templates;

internal enum TokenKind
{
    Data,
    VariableBegin,
    VariableEnd,
    BlockBegin,
    BlockEnd,
    Name,
    String,
    Integer,
    Float,
    Operator,
    Eof,
}

internal sealed record Token(TokenKind Kind, string Text, int Line, object? Value = null)
{
    public bool Is(TokenKind kind, string text) => Kind == kind && Text == text;

    public bool IsName(string name) => Kind == TokenKind.Name && Text == name;

    public bool IsOperator(string op) => Kind == TokenKind.Operator && Text == op;

    /// <summary>How jinja2 names the token in "expected ..., got ..." messages.</summary>
    public string Describe() => Kind switch
    {
        TokenKind.Eof => "end of template",
        TokenKind.BlockEnd => "end of statement block",
        TokenKind.VariableEnd => "end of print statement",
        TokenKind.BlockBegin => "begin of statement block",
        TokenKind.VariableBegin => "begin of print statement",
        TokenKind.String => "string",
        _ => $"'{Text}'",
    };
}

/// <summary>
/// jinja2's lexer with transformers' settings (trim_blocks, lstrip_blocks, keep_trailing_newline=False):
/// newlines are normalised to \n and one trailing newline is dropped; <c>{%-</c>/<c>-%}</c> (and <c>{{-</c>, <c>{#-</c>)
/// strip all whitespace on that side; <c>{%+</c> turns lstrip_blocks off for the tag; a block or comment tag alone on
/// its line (only whitespace before it on that line) loses that indentation; a newline right after <c>%}</c> or <c>#}</c> is
/// dropped unless the tag ends with <c>+%}</c>. Comments vanish and <c>{% raw %}</c> bodies become text.
/// </summary>
internal sealed class JinjaLexer
{
    private static readonly string[] s_operators =
        ["//", "**", "==", "!=", "<=", ">=", "+", "-", "/", "*", "%", "~", "[", "]", "(", ")", "{", "}", "<", ">", "=", ".", ":", "|", ",", ";"];

    private readonly string _source;
    private readonly List<Token> _tokens = [];
    private int _position;
    private int _line = 1;
    private bool _lineStarting = true;

    private JinjaLexer(string source) => _source = source;

    public static List<Token> Tokenize(string source)
    {
        var normalized = source.Replace("\r\n", "\n").Replace('\r', '\n');
        if (normalized.EndsWith('\n'))
        {
            normalized = normalized[..^1];
        }

        var lexer = new JinjaLexer(normalized);
        lexer.Run();
        return lexer._tokens;
    }

    private ChatTemplateException Error(string message) => new(ChatTemplateErrorKind.Syntax, message, _line);

    private void Run()
    {
        while (_position < _source.Length)
        {
            var start = FindTagStart(_position);
            if (start < 0)
            {
                EmitData(_source[_position..]);
                _position = _source.Length;
                break;
            }

            var opener = _source[start + 1];
            var sign = start + 2 < _source.Length && _source[start + 2] is '-' or '+' ? _source[start + 2] : '\0';
            var text = _source[_position..start];
            var rawEnd = opener == '%' ? MatchRawBegin(start) : -1;
            text = ApplyLeftWhitespaceControl(text, sign, stripsIndentation: opener != '{');
            EmitData(text);
            Advance(start);
            var afterOpener = start + 2 + (sign == '\0' ? 0 : 1);
            if (rawEnd >= 0)
            {
                Advance(rawEnd);
                LexRawBody();
            }
            else if (opener == '#')
            {
                Advance(afterOpener);
                LexComment();
            }
            else
            {
                _tokens.Add(new Token(opener == '{' ? TokenKind.VariableBegin : TokenKind.BlockBegin, _source[start..afterOpener], _line));
                Advance(afterOpener);
                LexTag(opener == '{' ? TokenKind.VariableEnd : TokenKind.BlockEnd);
            }
        }

        _tokens.Add(new Token(TokenKind.Eof, "", _line));
    }

    private int FindTagStart(int from)
    {
        for (var i = from; i < _source.Length - 1; i++)
        {
            if (_source[i] == '{' && _source[i + 1] is '{' or '%' or '#')
            {
                return i;
            }
        }

        return -1;
    }

    /// <summary>The text before a tag, with <c>-</c> (strip all trailing whitespace) or lstrip_blocks (strip a line's indentation) applied.</summary>
    private string ApplyLeftWhitespaceControl(string text, char sign, bool stripsIndentation)
    {
        if (sign == '-')
        {
            var end = text.Length;
            while (end > 0 && PyString.IsSpace(text[end - 1]))
            {
                end--;
            }

            return text[..end];
        }

        if (sign != '+' && stripsIndentation)
        {
            var lineStart = text.LastIndexOf('\n') + 1;
            if ((lineStart > 0 || _lineStarting) && lineStart < text.Length && OnlySpace(text, lineStart))
            {
                return text[..lineStart];
            }
        }

        return text;
    }

    private static bool OnlySpace(string text, int from)
    {
        for (var i = from; i < text.Length; i++)
        {
            if (!PyString.IsSpace(text[i]))
            {
                return false;
            }
        }

        return true;
    }

    private void EmitData(string text)
    {
        if (text.Length > 0)
        {
            _tokens.Add(new Token(TokenKind.Data, text, _line));
        }
    }

    /// <summary>Moves to <paramref name="to"/>, counting lines; remembers whether what was consumed ended a line (lstrip_blocks).</summary>
    private void Advance(int to)
    {
        if (to > _position)
        {
            for (var i = _position; i < to; i++)
            {
                if (_source[i] == '\n')
                {
                    _line++;
                }
            }

            _lineStarting = _source[to - 1] == '\n';
            _position = to;
        }
    }

    private int SkipSpace(int i)
    {
        while (i < _source.Length && PyString.IsSpace(_source[i]))
        {
            i++;
        }

        return i;
    }

    /// <summary>The end of a block (or comment) tag's closing <c>%}</c> with its whitespace control: <c>-%}</c> eats all following whitespace, <c>%}</c> one newline (trim_blocks), <c>+%}</c> nothing.</summary>
    private int BlockEnd(int i, bool trimNewline)
    {
        if (_source[i] == '-')
        {
            return SkipSpace(i + 3);
        }

        if (_source[i] == '+')
        {
            return i + 3;
        }

        return trimNewline && i + 2 < _source.Length && _source[i + 2] == '\n' ? i + 3 : i + 2;
    }

    private bool IsBlockClose(int i) =>
        (i + 1 < _source.Length && _source[i] == '%' && _source[i + 1] == '}')
        || (i + 2 < _source.Length && _source[i] is '-' or '+' && _source[i + 1] == '%' && _source[i + 2] == '}');

    private bool MatchWord(int i, string word) =>
        string.CompareOrdinal(_source, i, word, 0, word.Length) == 0
        && (i + word.Length >= _source.Length || !IsNameChar(_source[i + word.Length]));

    /// <summary>Where a <c>{% raw %}</c> tag starting at <paramref name="start"/> ends, or -1 when the tag is not raw.</summary>
    private int MatchRawBegin(int start)
    {
        var i = start + 2;
        if (i < _source.Length && _source[i] is '-' or '+')
        {
            i++;
        }

        i = SkipSpace(i);
        if (!MatchWord(i, "raw"))
        {
            return -1;
        }

        i = SkipSpace(i + 3);
        if (i < _source.Length && _source[i] == '+' && IsBlockClose(i))
        {
            return -1;
        }

        return IsBlockClose(i) ? BlockEnd(i, trimNewline: false) : -1;
    }

    private void LexRawBody()
    {
        for (var i = _position; i < _source.Length - 1; i++)
        {
            if (_source[i] != '{' || _source[i + 1] != '%')
            {
                continue;
            }

            var j = i + 2;
            var sign = j < _source.Length && _source[j] is '-' or '+' ? _source[j] : '\0';
            if (sign != '\0')
            {
                j++;
            }

            j = SkipSpace(j);
            if (!MatchWord(j, "endraw"))
            {
                continue;
            }

            j = SkipSpace(j + 6);
            if (!IsBlockClose(j))
            {
                throw Error("missing end of raw directive");
            }

            EmitData(ApplyLeftWhitespaceControl(_source[_position..i], sign, stripsIndentation: true));
            Advance(BlockEnd(j, trimNewline: true));
            return;
        }

        throw Error("missing end of raw directive");
    }

    private void LexComment()
    {
        var end = _source.IndexOf("#}", _position, StringComparison.Ordinal);
        if (end < 0)
        {
            throw Error("missing end of comment tag");
        }

        // "-#}" strips what follows, "+#}" keeps it, "#}" drops one newline (trim_blocks applies to comments too)
        var close = end > _position && _source[end - 1] is '-' or '+' ? end - 1 : end;
        Advance(BlockEnd(close, trimNewline: true));
    }

    /// <summary>The tokens of one <c>{{ ... }}</c> or <c>{% ... %}</c> tag, up to and including its end (which brackets hide).</summary>
    private void LexTag(TokenKind endKind)
    {
        var brackets = new Stack<char>();
        while (true)
        {
            var i = SkipSpace(_position);
            Advance(i);
            if (i >= _source.Length)
            {
                throw Error(endKind == TokenKind.BlockEnd ? "unexpected end of template, expected end of statement block" : "unexpected end of template, expected end of print statement");
            }

            if (brackets.Count == 0 && TryLexTagEnd(i, endKind))
            {
                return;
            }

            var c = _source[i];
            if (c is '\'' or '"')
            {
                LexString(i);
            }
            else if (char.IsAsciiDigit(c))
            {
                LexNumber(i);
            }
            else if (IsNameStart(c))
            {
                var end = i;
                while (end < _source.Length && IsNameChar(_source[end]))
                {
                    end++;
                }

                _tokens.Add(new Token(TokenKind.Name, _source[i..end], _line));
                Advance(end);
            }
            else
            {
                LexOperator(i, brackets);
            }
        }
    }

    private bool TryLexTagEnd(int i, TokenKind endKind)
    {
        if (endKind == TokenKind.BlockEnd)
        {
            if (!IsBlockClose(i))
            {
                return false;
            }

            _tokens.Add(new Token(TokenKind.BlockEnd, "%}", _line));
            Advance(BlockEnd(i, trimNewline: true));
            return true;
        }

        if (string.CompareOrdinal(_source, i, "-}}", 0, 3) == 0)
        {
            _tokens.Add(new Token(TokenKind.VariableEnd, "}}", _line));
            Advance(SkipSpace(i + 3));
            return true;
        }

        if (string.CompareOrdinal(_source, i, "}}", 0, 2) == 0)
        {
            _tokens.Add(new Token(TokenKind.VariableEnd, "}}", _line));
            Advance(i + 2);
            return true;
        }

        return false;
    }

    private void LexOperator(int i, Stack<char> brackets)
    {
        foreach (var op in s_operators)
        {
            if (string.CompareOrdinal(_source, i, op, 0, op.Length) != 0)
            {
                continue;
            }

            switch (op)
            {
                case "(" or "[" or "{":
                    brackets.Push(op[0]);
                    break;
                case ")" or "]" or "}":
                    var expected = op switch { ")" => '(', "]" => '[', _ => '{' };
                    if (brackets.Count == 0 || brackets.Pop() != expected)
                    {
                        throw Error($"unexpected '{op}'");
                    }

                    break;
            }

            _tokens.Add(new Token(TokenKind.Operator, op, _line));
            Advance(i + op.Length);
            return;
        }

        throw Error($"unexpected char {PyRepr.String(_source[i].ToString())} at {i}");
    }

    private static bool IsNameStart(char c) => c == '_' || char.IsLetter(c);

    private static bool IsNameChar(char c) => c == '_' || char.IsLetterOrDigit(c);

    private void LexNumber(int i)
    {
        var end = ReadDigits(i);
        var isFloat = false;
        if (end + 1 < _source.Length && _source[end] == '.' && char.IsAsciiDigit(_source[end + 1]))
        {
            end = ReadDigits(end + 1);
            isFloat = true;
        }

        if (end < _source.Length && _source[end] is 'e' or 'E')
        {
            var exponent = end + 1;
            if (exponent < _source.Length && _source[exponent] is '+' or '-')
            {
                exponent++;
            }

            if (exponent < _source.Length && char.IsAsciiDigit(_source[exponent]))
            {
                end = ReadDigits(exponent);
                isFloat = true;
            }
        }

        var text = _source[i..end].Replace("_", "");
        object value = isFloat
            ? (object)double.Parse(text, NumberStyles.Float, CultureInfo.InvariantCulture)
            : long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var integer)
                ? (object)integer
                : throw Error($"integer literal {text} is too large (this engine's integers are 64-bit)");
        _tokens.Add(new Token(isFloat ? TokenKind.Float : TokenKind.Integer, _source[i..end], _line, value));
        Advance(end);
    }

    private int ReadDigits(int i)
    {
        while (i < _source.Length && (char.IsAsciiDigit(_source[i]) || (_source[i] == '_' && i + 1 < _source.Length && char.IsAsciiDigit(_source[i + 1]))))
        {
            i++;
        }

        return i;
    }

    /// <summary>A quoted string with Python's escapes (<c>\n \t \\ \' \xhh \uhhhh \Uhhhhhhhh</c>, octal; unknown escapes stay).</summary>
    private void LexString(int start)
    {
        var quote = _source[start];
        var builder = new StringBuilder();
        var i = start + 1;
        while (true)
        {
            if (i >= _source.Length)
            {
                throw Error($"unexpected char {PyRepr.String(quote.ToString())} at {start}");
            }

            var c = _source[i];
            if (c == quote)
            {
                break;
            }

            if (c != '\\')
            {
                builder.Append(c);
                i++;
                continue;
            }

            if (i + 1 >= _source.Length)
            {
                throw Error($"unexpected char {PyRepr.String(quote.ToString())} at {start}");
            }

            i = AppendEscape(builder, i + 1);
        }

        _tokens.Add(new Token(TokenKind.String, _source[start..(i + 1)], _line, builder.ToString()));
        Advance(i + 1);
    }

    private int AppendEscape(StringBuilder builder, int i)
    {
        var c = _source[i];
        switch (c)
        {
            case '\n':
                return i + 1;
            case '\\' or '\'' or '"':
                builder.Append(c);
                return i + 1;
            case 'a':
                builder.Append('\a');
                return i + 1;
            case 'b':
                builder.Append('\b');
                return i + 1;
            case 'f':
                builder.Append('\f');
                return i + 1;
            case 'n':
                builder.Append('\n');
                return i + 1;
            case 'r':
                builder.Append('\r');
                return i + 1;
            case 't':
                builder.Append('\t');
                return i + 1;
            case 'v':
                builder.Append('\v');
                return i + 1;
            case 'x':
                return AppendHexEscape(builder, i + 1, 2, "\\xXX");
            case 'u':
                return AppendHexEscape(builder, i + 1, 4, "\\uXXXX");
            case 'U':
                return AppendHexEscape(builder, i + 1, 8, "\\UXXXXXXXX");
            case >= '0' and <= '7':
                var end = i;
                var value = 0;
                while (end < _source.Length && end < i + 3 && _source[end] is >= '0' and <= '7')
                {
                    value = (value * 8) + (_source[end] - '0');
                    end++;
                }

                builder.Append((char)value);
                return end;
            default:
                builder.Append('\\').Append(c);
                return i + 1;
        }
    }

    private int AppendHexEscape(StringBuilder builder, int i, int digits, string form)
    {
        if (i + digits > _source.Length || !int.TryParse(_source.AsSpan(i, digits), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var value)
            || _source.AsSpan(i, digits).ContainsAny('+', '-'))
        {
            throw Error($"truncated {form} escape in a string");
        }

        if (value > 0x10FFFF)
        {
            throw Error("illegal Unicode character in a string escape");
        }

        builder.Append(value is >= 0xD800 and <= 0xDFFF ? ((char)value).ToString() : char.ConvertFromUtf32(value));
        return i + digits;
    }
}
