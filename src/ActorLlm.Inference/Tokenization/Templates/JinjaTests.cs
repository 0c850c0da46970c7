namespace ActorLlm.Inference.Tokenization.Templates;

/// <summary>jinja2's tests (<c>x is defined</c>, <c>x is string</c>, <c>x is divisibleby 3</c>, ...), with Python's type rules (a bool is a number).</summary>
internal static class JinjaTests
{
    private delegate bool Test(object? value, JinjaArguments args);

    private static readonly Dictionary<string, Test> s_tests = new(StringComparer.Ordinal)
    {
        ["defined"] = (v, _) => v is not JinjaUndefined,
        ["undefined"] = (v, _) => v is JinjaUndefined,
        ["none"] = (v, _) => v is null,
        ["boolean"] = (v, _) => v is bool,
        ["true"] = (v, _) => v is true,
        ["false"] = (v, _) => v is false,
        ["integer"] = (v, _) => v is long,
        ["float"] = (v, _) => v is double,
        ["number"] = (v, _) => v is long or double or bool,
        ["string"] = (v, _) => v is string,
        ["mapping"] = (v, _) => v is Dictionary<string, object?>,
        ["iterable"] = (v, _) => v is string or List<object?> or PyTuple or Dictionary<string, object?> or JinjaUndefined,
        ["sequence"] = (v, _) => v is string or List<object?> or PyTuple or Dictionary<string, object?> or JinjaUndefined,
        ["callable"] = (v, _) => v is JinjaCallable,
        ["escaped"] = (_, _) => false,
        ["lower"] = (v, _) => PyString.IsLower(PyOps.Str(v)),
        ["upper"] = (v, _) => PyString.IsUpper(PyOps.Str(v)),
        ["even"] = (v, _) => PyOps.Equal(PyOps.Arithmetic("%", v, 2L, JinjaLimits.Default), 0L),
        ["odd"] = (v, _) => PyOps.Equal(PyOps.Arithmetic("%", v, 2L, JinjaLimits.Default), 1L),
        ["divisibleby"] = (v, a) => PyOps.Equal(PyOps.Arithmetic("%", v, Argument(a, "num"), JinjaLimits.Default), 0L),
        ["eq"] = (v, a) => PyOps.Equal(v, Argument(a, "other")),
        ["ne"] = (v, a) => !PyOps.Equal(v, Argument(a, "other")),
        ["lt"] = (v, a) => PyOps.Compare(v, Argument(a, "other"), "<") < 0,
        ["le"] = (v, a) => PyOps.Compare(v, Argument(a, "other"), "<=") is <= 0,
        ["gt"] = (v, a) => PyOps.Compare(v, Argument(a, "other"), ">") is > 0 and not 2,
        ["ge"] = (v, a) => PyOps.Compare(v, Argument(a, "other"), ">=") is >= 0 and not 2,
        ["in"] = (v, a) => PyOps.Contains(Argument(a, "seq"), v),
        ["sameas"] = (v, a) => SameAs(v, Argument(a, "other")),
        ["filter"] = (v, _) => v is string name && JinjaFilters.Has(name),
        ["test"] = (v, _) => v is string name && Has(name),
    };

    private static readonly Dictionary<string, string> s_aliases = new(StringComparer.Ordinal)
    {
        ["=="] = "eq",
        ["equalto"] = "eq",
        ["!="] = "ne",
        ["<"] = "lt",
        ["lessthan"] = "lt",
        ["<="] = "le",
        [">"] = "gt",
        ["greaterthan"] = "gt",
        [">="] = "ge",
    };

    public static bool Has(string name) => s_tests.ContainsKey(s_aliases.GetValueOrDefault(name, name));

    public static bool Apply(string name, object? value, JinjaArguments args) => s_tests[s_aliases.GetValueOrDefault(name, name)](value, args);

    private static object? Argument(JinjaArguments args, string name) =>
        args.Has(0, name) ? args.Get(0, name) : throw PyOps.TypeError($"test is missing its argument '{name}'");

    /// <summary>Python's <c>is</c>, approximated for value types: None, booleans, CPython's cached small ints, and the same object.</summary>
    private static bool SameAs(object? a, object? b) => (a, b) switch
    {
        (null, null) => true,
        (bool x, bool y) => x == y,
        (long x, long y) => x == y && x is >= -5 and <= 256,
        (JinjaUndefined, JinjaUndefined) => ReferenceEquals(a, b),
        _ => ReferenceEquals(a, b),
    };
}
