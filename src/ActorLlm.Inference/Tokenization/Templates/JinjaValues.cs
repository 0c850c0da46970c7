using System.Collections;
using System.Text.Json;

namespace ActorLlm.Inference.Tokenization.Templates;

/// <summary>
/// jinja2's default <c>Undefined</c>: prints as "", is falsy, iterates as empty and has length 0, equals only
/// another undefined; attribute or item access, calls, arithmetic and ordering on it fail with its message
/// (jinja2's wording: "'x' is undefined", "'dict object' has no attribute 'y'", "list object has no element 5").
/// </summary>
internal sealed class JinjaUndefined
{
    public static readonly JinjaUndefined Plain = new("value is undefined");

    private JinjaUndefined(string message) => Message = message;

    public string Message { get; }

    public static JinjaUndefined Missing(string name) => new($"{PyRepr.String(name)} is undefined");

    public static JinjaUndefined NoAttribute(object? owner, object? key) => key is string name
        ? new JinjaUndefined($"'{PyOps.TypeRepr(owner)}' has no attribute {PyRepr.String(name)}")
        : new JinjaUndefined($"{PyOps.TypeRepr(owner)} has no element {PyRepr.Of(key)}");

    public static JinjaUndefined WithHint(string hint) => new(hint);

    public ChatTemplateException Fail() => new(ChatTemplateErrorKind.Runtime, Message);
}

/// <summary>A Python tuple (from tuple literals, <c>dict.items()</c>, macro varargs): a read-only sequence that prints as <c>(a, b)</c>.</summary>
internal sealed class PyTuple(IReadOnlyList<object?> items) : IReadOnlyList<object?>
{
    public static readonly PyTuple Empty = new([]);

    public IReadOnlyList<object?> Items { get; } = items;

    public int Count => Items.Count;

    public object? this[int index] => Items[index];

    public IEnumerator<object?> GetEnumerator() => Items.GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}

/// <summary>jinja2's <c>namespace(...)</c>: the one object a template may assign attributes on (<c>{% set ns.x = ... %}</c>).</summary>
internal sealed class JinjaNamespace
{
    public Dictionary<string, object?> Attributes { get; } = new(StringComparer.Ordinal);
}

/// <summary>Anything a template can call: macros, <c>caller</c>, globals, bound methods of strings and dicts.</summary>
internal abstract class JinjaCallable
{
    public abstract string Name { get; }

    public abstract object? Call(JinjaRenderer renderer, JinjaArguments arguments);
}

/// <summary>A built-in function or bound method implemented in C#.</summary>
internal sealed class BuiltinCallable(string name, Func<JinjaRenderer, JinjaArguments, object?> body, string? owner = null) : JinjaCallable
{
    public override string Name { get; } = name;

    /// <summary>The Python type the method is bound to ("str", "dict"), or null for a global function.</summary>
    public string? Owner { get; } = owner;

    public override object? Call(JinjaRenderer renderer, JinjaArguments arguments) => body(renderer, arguments);
}

/// <summary>Positional and keyword arguments of a call, with Python-style binding by position or name.</summary>
internal sealed class JinjaArguments(IReadOnlyList<object?> positional, IReadOnlyList<KeyValuePair<string, object?>> keywords)
{
    public static readonly JinjaArguments None = new([], []);

    public IReadOnlyList<object?> Positional { get; } = positional;

    public IReadOnlyList<KeyValuePair<string, object?>> Keywords { get; } = keywords;

    /// <summary>The argument at <paramref name="index"/> or named <paramref name="name"/>, else <paramref name="fallback"/>.</summary>
    public object? Get(int index, string name, object? fallback = null)
    {
        if (index >= 0 && index < Positional.Count)
        {
            return Positional[index];
        }

        foreach (var (key, value) in Keywords)
        {
            if (key == name)
            {
                return value;
            }
        }

        return fallback;
    }

    public bool Has(int index, string name) =>
        (index >= 0 && index < Positional.Count) || Keywords.Any(k => k.Key == name);

    /// <summary>Fails like Python when more positional arguments or other keywords are passed than <paramref name="parameters"/> names.</summary>
    public JinjaArguments Check(string function, params string[] parameters)
    {
        if (Positional.Count > parameters.Length)
        {
            throw PyOps.TypeError($"{function}() takes at most {parameters.Length} argument(s) ({Positional.Count} given)");
        }

        foreach (var (key, _) in Keywords)
        {
            if (Array.IndexOf(parameters, key) < 0)
            {
                throw PyOps.TypeError($"{function}() got an unexpected keyword argument {PyRepr.String(key)}");
            }
        }

        return this;
    }
}

/// <summary>The <c>loop</c> variable of a for loop.</summary>
internal sealed class LoopContext(IReadOnlyList<object?> items, int depth)
{
    public int Index0 { get; set; }

    public int Depth { get; } = depth;

    public object? Attribute(string name) => name switch
    {
        "index" => (long)(Index0 + 1),
        "index0" => (long)Index0,
        "revindex" => (long)(items.Count - Index0),
        "revindex0" => (long)(items.Count - Index0 - 1),
        "first" => Index0 == 0,
        "last" => Index0 == items.Count - 1,
        "length" => (long)items.Count,
        "depth" => (long)Depth,
        "depth0" => (long)(Depth - 1),
        "previtem" => Index0 > 0 ? items[Index0 - 1] : JinjaUndefined.WithHint("there is no previous item"),
        "nextitem" => Index0 + 1 < items.Count ? items[Index0 + 1] : JinjaUndefined.WithHint("there is no next item"),
        "cycle" => new BuiltinCallable("cycle", (_, args) => args.Positional.Count == 0
            ? throw PyOps.TypeError("no items for cycling given")
            : args.Positional[Index0 % args.Positional.Count]),
        _ => JinjaUndefined.NoAttribute(this, name),
    };
}

/// <summary>Conversions between .NET / JSON values and the engine's value model.</summary>
public static class JinjaValues
{
    /// <summary>
    /// A JSON value as a template value: objects become <c>Dictionary&lt;string, object?&gt;</c> (key order kept),
    /// arrays <c>List&lt;object?&gt;</c>, integers <c>long</c> (others <c>double</c>), strings, booleans and null.
    /// Use it to pass OpenAI-style <c>tools</c> or extra template variables.
    /// </summary>
    public static object? FromJson(JsonElement element) => FromJson(element, 0);

    private static object? FromJson(JsonElement element, int depth)
    {
        if (depth > JinjaLimits.MaxValueDepth)
        {
            throw new ChatTemplateException(ChatTemplateErrorKind.LimitExceeded, $"a value is nested deeper than {JinjaLimits.MaxValueDepth} levels");
        }

        switch (element.ValueKind)
        {
            case JsonValueKind.Object:
                var dict = new Dictionary<string, object?>(StringComparer.Ordinal);
                foreach (var property in element.EnumerateObject())
                {
                    dict[property.Name] = FromJson(property.Value, depth + 1);
                }

                return dict;
            case JsonValueKind.Array:
                return element.EnumerateArray().Select(item => FromJson(item, depth + 1)).ToList();
            case JsonValueKind.String:
                return element.GetString();
            case JsonValueKind.Number:
                return element.TryGetInt64(out var integer) ? (object)integer : element.GetDouble();
            case JsonValueKind.True:
                return true;
            case JsonValueKind.False:
                return false;
            default:
                return null;
        }
    }

    /// <summary>
    /// A .NET value as a template value: strings, booleans, integral and floating numbers, null, JSON elements,
    /// string-keyed dictionaries and lists/arrays of these (copied). Anything else is refused: templates only
    /// ever reach values of the engine's own types, never arbitrary .NET objects.
    /// </summary>
    public static object? FromDotNet(object? value) => FromDotNet(value, 0);

    internal static object? FromDotNet(object? value, int depth)
    {
        if (depth > JinjaLimits.MaxValueDepth)
        {
            throw new ChatTemplateException(ChatTemplateErrorKind.LimitExceeded, $"a value is nested deeper than {JinjaLimits.MaxValueDepth} levels");
        }

        return value switch
        {
            null or string or bool or long or double => value,
            int or short or byte or sbyte or ushort or uint => Convert.ToInt64(value, System.Globalization.CultureInfo.InvariantCulture),
            ulong u => u <= long.MaxValue ? (object)(long)u : (double)u,
            float f => (double)f,
            decimal m => (double)m,
            JsonElement element => FromJson(element, depth),
            ChatMessage message => new Dictionary<string, object?>(StringComparer.Ordinal) { ["role"] = message.Role, ["content"] = message.Content },
            IDictionary<string, object?> dict => dict.ToDictionary(kv => kv.Key, kv => FromDotNet(kv.Value, depth + 1), StringComparer.Ordinal),
            IReadOnlyDictionary<string, object?> dict => dict.ToDictionary(kv => kv.Key, kv => FromDotNet(kv.Value, depth + 1), StringComparer.Ordinal),
            IDictionary<string, string> dict => dict.ToDictionary(kv => kv.Key, kv => (object?)kv.Value, StringComparer.Ordinal),
            IEnumerable sequence => sequence.Cast<object?>().Select(item => FromDotNet(item, depth + 1)).ToList(),
            _ => throw new ArgumentException($"a {value.GetType().Name} cannot be passed to a template (use strings, numbers, booleans, null, lists and string-keyed dictionaries)"),
        };
    }
}
