namespace ActorLlm.Inference.Tokenization.Templates;

/// <summary>
/// The Python methods templates call on strings (<c>.strip()</c>, <c>.split()</c>, <c>.startswith()</c>, ...), dicts
/// (<c>.items()</c>, <c>.get()</c>, ...) and lists (<c>.count()</c>, <c>.index()</c>). Mutating methods exist but are
/// unsafe, as in jinja2's ImmutableSandboxedEnvironment; other real Python methods fail clearly as unsupported.
/// </summary>
internal static class JinjaMethods
{
    private delegate object? Method(string self, JinjaArguments args);

    private static readonly Dictionary<string, Method> s_stringMethods = new(StringComparer.Ordinal)
    {
        ["strip"] = (s, a) => PyString.Strip(s, OptionalString(a.Check("strip", "chars").Get(0, "chars")), left: true, right: true),
        ["lstrip"] = (s, a) => PyString.Strip(s, OptionalString(a.Check("lstrip", "chars").Get(0, "chars")), left: true, right: false),
        ["rstrip"] = (s, a) => PyString.Strip(s, OptionalString(a.Check("rstrip", "chars").Get(0, "chars")), left: false, right: true),
        ["split"] = (s, a) => PyString.Split(s, OptionalString(a.Check("split", "sep", "maxsplit").Get(0, "sep")), Integer(a.Get(1, "maxsplit", -1L))),
        ["rsplit"] = (s, a) => PyString.RSplit(s, OptionalString(a.Check("rsplit", "sep", "maxsplit").Get(0, "sep")), Integer(a.Get(1, "maxsplit", -1L))),
        ["splitlines"] = (s, a) => PyString.SplitLines(s),
        ["startswith"] = (s, a) => Affix(s, a.Check("startswith", "prefix").Get(0, "prefix"), "startswith", (x, y) => x.StartsWith(y, StringComparison.Ordinal)),
        ["endswith"] = (s, a) => Affix(s, a.Check("endswith", "suffix").Get(0, "suffix"), "endswith", (x, y) => x.EndsWith(y, StringComparison.Ordinal)),
        ["upper"] = (s, a) => PyString.Upper(s),
        ["lower"] = (s, a) => PyString.Lower(s),
        ["title"] = (s, a) => PyString.Title(s),
        ["capitalize"] = (s, a) => PyString.Capitalize(s),
        ["replace"] = (s, a) => PyString.Replace(s, RequiredString(a.Check("replace", "old", "new", "count").Get(0, "old"), "replace"),
            RequiredString(a.Get(1, "new"), "replace"), Integer(a.Get(2, "count", -1L))),
        ["find"] = (s, a) => Find(s, RequiredString(a.Check("find", "sub").Get(0, "sub"), "find"), last: false),
        ["rfind"] = (s, a) => Find(s, RequiredString(a.Check("rfind", "sub").Get(0, "sub"), "rfind"), last: true),
        ["index"] = (s, a) => Find(s, RequiredString(a.Check("index", "sub").Get(0, "sub"), "index"), last: false) is long i and >= 0
            ? i
            : throw PyOps.ValueError("substring not found"),
        ["count"] = (s, a) => Count(s, RequiredString(a.Check("count", "sub").Get(0, "sub"), "count")),
        ["join"] = (s, a) => string.Join(s, PyOps.Iterate(a.Check("join", "iterable").Get(0, "iterable")).Select(item =>
            item as string ?? throw PyOps.TypeError($"sequence item: expected str instance, {PyOps.TypeName(item)} found"))),
        ["isdigit"] = (s, a) => s.Length > 0 && s.All(char.IsDigit),
        ["isnumeric"] = (s, a) => s.Length > 0 && s.All(char.IsDigit),
        ["isdecimal"] = (s, a) => s.Length > 0 && s.All(char.IsDigit),
        ["isalpha"] = (s, a) => s.Length > 0 && PyString.Characters(s).All(c => char.IsLetter(c, 0)),
        ["isalnum"] = (s, a) => s.Length > 0 && PyString.Characters(s).All(c => char.IsLetterOrDigit(c, 0)),
        ["isspace"] = (s, a) => s.Length > 0 && s.All(PyString.IsSpace),
        ["islower"] = (s, a) => PyString.IsLower(s),
        ["isupper"] = (s, a) => PyString.IsUpper(s),
        ["removeprefix"] = (s, a) => RequiredString(a.Check("removeprefix", "prefix").Get(0, "prefix"), "removeprefix") is var p && s.StartsWith(p, StringComparison.Ordinal) ? s[p.Length..] : s,
        ["removesuffix"] = (s, a) => RequiredString(a.Check("removesuffix", "suffix").Get(0, "suffix"), "removesuffix") is var x && x.Length > 0 && s.EndsWith(x, StringComparison.Ordinal) ? s[..^x.Length] : s,
    };

    /// <summary>Python str methods this engine does not implement: calling one is a clear error, not a silent undefined.</summary>
    private static readonly HashSet<string> s_otherStringMethods =
    [
        "casefold", "center", "encode", "expandtabs", "format", "format_map", "isascii", "isidentifier", "isprintable",
        "istitle", "ljust", "maketrans", "partition", "rindex", "rjust", "rpartition", "swapcase", "translate", "zfill",
    ];

    private static readonly HashSet<string> s_unsafeDictMethods = ["clear", "pop", "popitem", "setdefault", "update"];

    private static readonly HashSet<string> s_unsafeListMethods = ["append", "clear", "extend", "insert", "pop", "remove", "reverse", "sort"];

    /// <summary>The bound method <paramref name="name"/> of <paramref name="target"/>, an unsafe placeholder, or null when the type has no such attribute.</summary>
    public static object? Bind(object? target, string name)
    {
        switch (target)
        {
            case string s:
                if (s_stringMethods.TryGetValue(name, out var method))
                {
                    return new BuiltinCallable(name, (_, args) => method(s, args), "str");
                }

                return s_otherStringMethods.Contains(name) ? Unsupported("str", name) : null;
            case Dictionary<string, object?> dict:
                return name switch
                {
                    "items" => new BuiltinCallable(name, (_, a) => dict.Select(kv => (object?)new PyTuple([kv.Key, kv.Value])).ToList(), "dict"),
                    "keys" => new BuiltinCallable(name, (_, a) => dict.Keys.Cast<object?>().ToList(), "dict"),
                    "values" => new BuiltinCallable(name, (_, a) => dict.Values.ToList(), "dict"),
                    "get" => new BuiltinCallable(name, (_, a) => a.Check("get", "key", "default").Get(0, "key") is string key && dict.TryGetValue(key, out var v) ? v : a.Get(1, "default"), "dict"),
                    "copy" or "fromkeys" => Unsupported("dict", name),
                    _ when s_unsafeDictMethods.Contains(name) => Unsafe("dict", name),
                    _ => null,
                };
            case IReadOnlyList<object?> sequence:
                var typeName = target is PyTuple ? "tuple" : "list";
                return name switch
                {
                    "count" => new BuiltinCallable(name, (_, a) => (long)sequence.Count(item => PyOps.Equal(item, a.Check("count", "value").Get(0, "value"))), typeName),
                    "index" => new BuiltinCallable(name, (_, a) => IndexOf(sequence, a.Check("index", "value").Get(0, "value")), typeName),
                    "copy" when target is List<object?> => Unsupported("list", name),
                    _ when target is List<object?> && s_unsafeListMethods.Contains(name) => Unsafe("list", name),
                    _ => null,
                };
            default:
                return null;
        }
    }

    private static JinjaUndefined Unsafe(string type, string name) =>
        JinjaUndefined.WithHint($"access to attribute '{name}' of '{type}' object is unsafe.");

    private static BuiltinCallable Unsupported(string type, string name) =>
        new(name, (_, _) => throw new ChatTemplateException(ChatTemplateErrorKind.Runtime, $"{type}.{name}() is not supported by this engine"), type);

    private static long IndexOf(IReadOnlyList<object?> sequence, object? value)
    {
        for (var i = 0; i < sequence.Count; i++)
        {
            if (PyOps.Equal(sequence[i], value))
            {
                return i;
            }
        }

        throw PyOps.ValueError($"{PyOps.Repr(value)} is not in list");
    }

    private static string? OptionalString(object? value) => value switch
    {
        null => null,
        string s => s,
        _ => throw PyOps.TypeError($"expected str or None, got {PyOps.TypeName(value)}"),
    };

    private static string RequiredString(object? value, string method) =>
        value as string ?? throw PyOps.TypeError($"{method}() argument must be str, not {PyOps.TypeName(value)}");

    private static long Integer(object? value) => value switch
    {
        long l => l,
        bool b => b ? 1 : 0,
        _ => throw PyOps.TypeError($"'{PyOps.TypeName(value)}' object cannot be interpreted as an integer"),
    };

    private static bool Affix(string s, object? affix, string method, Func<string, string, bool> test) => affix switch
    {
        string one => test(s, one),
        PyTuple tuple => tuple.Any(item => test(s, RequiredString(item, method))),
        _ => throw PyOps.TypeError($"{method} first arg must be str or a tuple of str, not {PyOps.TypeName(affix)}"),
    };

    private static long Find(string s, string sub, bool last)
    {
        var index = last ? s.LastIndexOf(sub, StringComparison.Ordinal) : s.IndexOf(sub, StringComparison.Ordinal);
        if (index <= 0 || !PyString.HasSurrogates(s))
        {
            return index;
        }

        return PyString.Length(s[..index]);
    }

    private static long Count(string s, string sub)
    {
        if (sub.Length == 0)
        {
            return PyString.Length(s) + 1;
        }

        var count = 0L;
        for (var i = s.IndexOf(sub, StringComparison.Ordinal); i >= 0; i = s.IndexOf(sub, i + sub.Length, StringComparison.Ordinal))
        {
            count++;
        }

        return count;
    }
}
