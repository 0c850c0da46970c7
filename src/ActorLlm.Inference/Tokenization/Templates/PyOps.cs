using System.Globalization;
using System.Text;

namespace ActorLlm.Inference.Tokenization.Templates;

/// <summary>
/// Python's semantics for the engine's values (string, long, double, bool, null, list, dict, tuple, undefined, ...):
/// truthiness, <c>str()</c>, <c>repr()</c>, equality, ordering, arithmetic, <c>len()</c>, iteration; with jinja2's
/// error messages where a template can observe them.
/// </summary>
internal static class PyOps
{
    public static ChatTemplateException TypeError(string message) => new(ChatTemplateErrorKind.Runtime, message);

    public static ChatTemplateException ValueError(string message) => new(ChatTemplateErrorKind.Runtime, message);

    /// <summary>Python's <c>type(x).__name__</c>.</summary>
    public static string TypeName(object? value) => value switch
    {
        null => "NoneType",
        bool => "bool",
        long => "int",
        double => "float",
        string => "str",
        List<object?> => "list",
        PyTuple => "tuple",
        Dictionary<string, object?> => "dict",
        JinjaUndefined => "Undefined",
        JinjaNamespace => "Namespace",
        MacroCallable => "Macro",
        JinjaCallable => "builtin_function_or_method",
        LoopContext => "LoopContext",
        _ => value.GetType().Name,
    };

    /// <summary>jinja2's <c>object_type_repr</c>: "None", "dict object", "list object", ...</summary>
    public static string TypeRepr(object? value) => value is null ? "None" : value switch
    {
        JinjaNamespace => "jinja2.utils.Namespace object",
        MacroCallable => "jinja2.runtime.Macro object",
        LoopContext => "jinja2.runtime.LoopContext object",
        _ => TypeName(value) + " object",
    };

    public static bool Truthy(object? value) => value switch
    {
        null => false,
        bool b => b,
        long l => l != 0,
        double d => d != 0,
        string s => s.Length != 0,
        List<object?> list => list.Count != 0,
        PyTuple tuple => tuple.Count != 0,
        Dictionary<string, object?> dict => dict.Count != 0,
        JinjaUndefined => false,
        _ => true,
    };

    /// <summary>Python's <c>str()</c>, which is what <c>{{ x }}</c>, <c>~</c> and the <c>string</c> filter print.</summary>
    public static string Str(object? value) => value switch
    {
        string s => s,
        JinjaUndefined => "",
        _ => Repr(value),
    };

    public static string Repr(object? value) => Repr(value, 0);

    private static string Repr(object? value, int depth)
    {
        if (depth > JinjaLimits.MaxValueDepth)
        {
            throw new ChatTemplateException(ChatTemplateErrorKind.LimitExceeded, $"a value is nested deeper than {JinjaLimits.MaxValueDepth} levels");
        }

        switch (value)
        {
            case null:
                return "None";
            case bool b:
                return b ? "True" : "False";
            case long l:
                return l.ToString(CultureInfo.InvariantCulture);
            case double d:
                return PyRepr.Float(d);
            case string s:
                return PyRepr.String(s);
            case List<object?> list:
                return "[" + string.Join(", ", list.Select(item => Repr(item, depth + 1))) + "]";
            case PyTuple tuple:
                return tuple.Count == 1
                    ? "(" + Repr(tuple[0], depth + 1) + ",)"
                    : "(" + string.Join(", ", tuple.Select(item => Repr(item, depth + 1))) + ")";
            case Dictionary<string, object?> dict:
                return "{" + string.Join(", ", dict.Select(kv => PyRepr.String(kv.Key) + ": " + Repr(kv.Value, depth + 1))) + "}";
            case JinjaUndefined:
                return "Undefined";
            case JinjaNamespace ns:
                return "<Namespace " + Repr(ns.Attributes, depth + 1) + ">";
            case MacroCallable macro:
                return $"<Macro {PyRepr.String(macro.Name)}>";
            case BuiltinCallable { Owner: { } owner } method:
                return $"<built-in method {method.Name} of {owner} object>";
            case JinjaCallable callable:
                return $"<built-in function {callable.Name}>";
            case LoopContext loop:
                return $"<LoopContext {loop.Index0 + 1}>";
            default:
                return value.ToString() ?? "";
        }
    }

    public static bool IsNumber(object? value) => value is long or double or bool;

    private static bool IsInteger(object? value) => value is long or bool;

    private static long AsLong(object? value) => value switch
    {
        long l => l,
        bool b => b ? 1 : 0,
        _ => throw new InvalidOperationException("not an integer"),
    };

    private static double AsDouble(object? value) => value switch
    {
        double d => d,
        long l => l,
        bool b => b ? 1 : 0,
        _ => throw new InvalidOperationException("not a number"),
    };

    /// <summary>Python's <c>==</c>: numbers by value (True == 1), sequences and dicts element by element.</summary>
    public static bool Equal(object? a, object? b) => Equal(a, b, 0);

    private static bool Equal(object? a, object? b, int depth)
    {
        if (depth > JinjaLimits.MaxValueDepth)
        {
            throw new ChatTemplateException(ChatTemplateErrorKind.LimitExceeded, $"a value is nested deeper than {JinjaLimits.MaxValueDepth} levels");
        }

        if (IsNumber(a) && IsNumber(b))
        {
            return IsInteger(a) && IsInteger(b) ? AsLong(a) == AsLong(b) : AsDouble(a) == AsDouble(b);
        }

        switch (a)
        {
            case null:
                return b is null;
            case string s:
                return b is string t && string.Equals(s, t, StringComparison.Ordinal);
            case JinjaUndefined:
                return b is JinjaUndefined;
            case List<object?> list:
                return b is List<object?> otherList && SequenceEqual(list, otherList, depth);
            case PyTuple tuple:
                return b is PyTuple otherTuple && SequenceEqual(tuple, otherTuple, depth);
            case Dictionary<string, object?> dict:
                if (b is not Dictionary<string, object?> otherDict || dict.Count != otherDict.Count)
                {
                    return false;
                }

                foreach (var (key, value) in dict)
                {
                    if (!otherDict.TryGetValue(key, out var other) || !Equal(value, other, depth + 1))
                    {
                        return false;
                    }
                }

                return true;
            default:
                return ReferenceEquals(a, b);
        }
    }

    private static bool SequenceEqual(IReadOnlyList<object?> x, IReadOnlyList<object?> y, int depth)
    {
        if (x.Count != y.Count)
        {
            return false;
        }

        for (var i = 0; i < x.Count; i++)
        {
            if (!Equal(x[i], y[i], depth + 1))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>Python's ordering (<c>&lt;</c> and friends): numbers, strings by code point, lists and tuples lexicographically.</summary>
    public static int Compare(object? a, object? b, string op)
    {
        FailIfUndefined(a, b);
        if (IsNumber(a) && IsNumber(b))
        {
            return IsInteger(a) && IsInteger(b) ? AsLong(a).CompareTo(AsLong(b)) : CompareDoubles(AsDouble(a), AsDouble(b));
        }

        if (a is string s && b is string t)
        {
            return PyString.CompareOrdinalCodePoints(s, t);
        }

        if ((a is List<object?> && b is List<object?>) || (a is PyTuple && b is PyTuple))
        {
            var x = (IReadOnlyList<object?>)a;
            var y = (IReadOnlyList<object?>)b!;
            for (var i = 0; i < Math.Min(x.Count, y.Count); i++)
            {
                if (!Equal(x[i], y[i]))
                {
                    return Compare(x[i], y[i], op);
                }
            }

            return x.Count.CompareTo(y.Count);
        }

        throw TypeError($"'{op}' not supported between instances of '{TypeName(a)}' and '{TypeName(b)}'");
    }

    private static int CompareDoubles(double a, double b) => a < b ? -1 : a > b ? 1 : a == b ? 0 : 2; // NaN: every comparison false

    public static void FailIfUndefined(object? a, object? b = null)
    {
        if (a is JinjaUndefined ua)
        {
            throw ua.Fail();
        }

        if (b is JinjaUndefined ub)
        {
            throw ub.Fail();
        }
    }

    /// <summary>Python's <c>len()</c>; undefined has length 0 as in jinja2.</summary>
    public static long Length(object? value) => value switch
    {
        string s => PyString.Length(s),
        List<object?> list => list.Count,
        PyTuple tuple => tuple.Count,
        Dictionary<string, object?> dict => dict.Count,
        JinjaUndefined => 0,
        _ => throw TypeError($"object of type '{TypeName(value)}' has no len()"),
    };

    /// <summary>Python's <c>iter()</c> as a list: characters of a str, keys of a dict, items of a list; undefined is empty.</summary>
    public static IReadOnlyList<object?> Iterate(object? value) => value switch
    {
        List<object?> list => list,
        PyTuple tuple => tuple.Items,
        string s => PyString.Characters(s).Cast<object?>().ToList(),
        Dictionary<string, object?> dict => dict.Keys.Cast<object?>().ToList(),
        JinjaUndefined => [],
        _ => throw TypeError($"'{TypeName(value)}' object is not iterable"),
    };

    /// <summary>Python's <c>in</c>: substring, element, or dict key.</summary>
    public static bool Contains(object? container, object? item)
    {
        switch (container)
        {
            case string s:
                return item is string t
                    ? s.Contains(t, StringComparison.Ordinal)
                    : throw TypeError($"'in <string>' requires string as left operand, not {TypeName(item)}");
            case Dictionary<string, object?> dict:
                return item is string key && dict.ContainsKey(key);
            case List<object?> or PyTuple or JinjaUndefined:
                return Iterate(container).Any(element => Equal(element, item));
            default:
                throw TypeError($"argument of type '{TypeName(container)}' is not iterable");
        }
    }

    public static object? Negate(object? value) => value switch
    {
        long l => l == long.MinValue ? throw Overflow() : (object)(-l),
        bool b => b ? -1L : 0L,
        double d => (object)(-d),
        JinjaUndefined u => throw u.Fail(),
        _ => throw TypeError($"bad operand type for unary -: '{TypeName(value)}'"),
    };

    public static object? Plus(object? value) => value switch
    {
        long or double => value,
        bool b => b ? 1L : 0L,
        JinjaUndefined u => throw u.Fail(),
        _ => throw TypeError($"bad operand type for unary +: '{TypeName(value)}'"),
    };

    public static ChatTemplateException Overflow() =>
        new(ChatTemplateErrorKind.Runtime, "integer overflow (this engine's integers are 64-bit)");

    /// <summary>A binary arithmetic operator (<c>+ - * / // % **</c>) with Python's semantics.</summary>
    public static object? Arithmetic(string op, object? a, object? b, JinjaLimits limits)
    {
        FailIfUndefined(a, b);
        if (IsNumber(a) && IsNumber(b))
        {
            return IsInteger(a) && IsInteger(b) ? IntegerArithmetic(op, AsLong(a), AsLong(b)) : FloatArithmetic(op, AsDouble(a), AsDouble(b));
        }

        switch (op)
        {
            case "+" when a is string s && b is string t:
                CheckLength(limits, (long)s.Length + t.Length);
                return s + t;
            case "+" when a is List<object?> x && b is List<object?> y:
                CheckItems(limits, (long)x.Count + y.Count);
                return x.Concat(y).ToList();
            case "+" when a is PyTuple x && b is PyTuple y:
                CheckItems(limits, (long)x.Count + y.Count);
                return new PyTuple(x.Concat(y).ToList());
            case "*" when IsInteger(b) && a is string or List<object?> or PyTuple:
                return Repeat(a, AsLong(b), limits);
            case "*" when IsInteger(a) && b is string or List<object?> or PyTuple:
                return Repeat(b, AsLong(a), limits);
            case "%" when a is string format:
                return PyFormat.Percent(format, b is PyTuple tuple ? tuple.Items : [b]);
            case "+" when a is string:
                throw TypeError($"can only concatenate str (not \"{TypeName(b)}\") to str");
            case "+" when a is List<object?>:
                throw TypeError($"can only concatenate list (not \"{TypeName(b)}\") to list");
            default:
                throw TypeError($"unsupported operand type(s) for {(op == "**" ? "** or pow()" : op)}: '{TypeName(a)}' and '{TypeName(b)}'");
        }
    }

    private static object Repeat(object? sequence, long times, JinjaLimits limits)
    {
        times = Math.Max(0, times);
        switch (sequence)
        {
            case string s:
                if (s.Length == 0 || times == 0)
                {
                    return "";
                }

                CheckLength(limits, s.Length * Math.Min(times, int.MaxValue));
                return new StringBuilder(s.Length * (int)times).Insert(0, s, (int)times).ToString();
            case List<object?> list:
                if (list.Count == 0 || times == 0)
                {
                    return new List<object?>();
                }

                CheckItems(limits, list.Count * Math.Min(times, int.MaxValue));
                return Enumerable.Repeat(list, (int)times).SelectMany(x => x).ToList();
            default:
                var tuple = (PyTuple)sequence!;
                if (tuple.Count == 0 || times == 0)
                {
                    return PyTuple.Empty;
                }

                CheckItems(limits, tuple.Count * Math.Min(times, int.MaxValue));
                return new PyTuple(Enumerable.Repeat(tuple.Items, (int)times).SelectMany(x => x).ToList());
        }
    }

    public static void CheckLength(JinjaLimits limits, long length)
    {
        if (length > limits.MaxStringChars)
        {
            throw new ChatTemplateException(ChatTemplateErrorKind.LimitExceeded, $"a string would exceed {limits.MaxStringChars} characters");
        }
    }

    public static void CheckItems(JinjaLimits limits, long count)
    {
        if (count > limits.MaxCollectionItems)
        {
            throw new ChatTemplateException(ChatTemplateErrorKind.LimitExceeded, $"a list would exceed {limits.MaxCollectionItems} items");
        }
    }

    private static object IntegerArithmetic(string op, long a, long b)
    {
        try
        {
            switch (op)
            {
                case "+":
                    return checked(a + b);
                case "-":
                    return checked(a - b);
                case "*":
                    return checked(a * b);
                case "/":
                    return b == 0 ? throw ZeroDivision("division by zero") : (double)a / b;
                case "//":
                    return b == 0 ? throw ZeroDivision("integer division or modulo by zero") : FloorDivide(a, b);
                case "%":
                    return b == 0 ? throw ZeroDivision("integer modulo by zero") : a - (b * FloorDivide(a, b));
                default: // "**"
                    if (b < 0)
                    {
                        return a == 0 ? throw ZeroDivision("0.0 cannot be raised to a negative power") : Math.Pow(a, b);
                    }

                    var result = 1L;
                    for (var i = 0L; i < b; i++)
                    {
                        result = checked(result * a);
                        if (result is 0 or 1 && a is 0 or 1)
                        {
                            break;
                        }
                    }

                    return result;
            }
        }
        catch (OverflowException)
        {
            throw Overflow();
        }
    }

    private static long FloorDivide(long a, long b)
    {
        var quotient = checked(a / b);
        return (a % b != 0) && ((a < 0) != (b < 0)) ? quotient - 1 : quotient;
    }

    private static object FloatArithmetic(string op, double a, double b) => op switch
    {
        "+" => a + b,
        "-" => a - b,
        "*" => a * b,
        "/" => b == 0 ? throw ZeroDivision("float division by zero") : a / b,
        "//" => b == 0 ? throw ZeroDivision("float floor division by zero") : Math.Floor(a / b),
        "%" => b == 0 ? throw ZeroDivision("float modulo") : FloatModulo(a, b),
        _ => a == 0 && b < 0 ? throw ZeroDivision("0.0 cannot be raised to a negative power") : Math.Pow(a, b),
    };

    private static double FloatModulo(double a, double b)
    {
        return a - (b * Math.Floor(a / b));
    }

    private static ChatTemplateException ZeroDivision(string message) => new(ChatTemplateErrorKind.Runtime, message);
}
